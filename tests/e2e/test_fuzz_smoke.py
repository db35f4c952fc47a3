"""A short, seeded schemathesis run against the whole local stack, as a user and as an admin.

The full run is `make fuzz` (GS_FUZZ_EXAMPLES=100, GS_FUZZ_CHECKS=all, the coverage phase too). The
smoke inside `make test` keeps the contract that needs no further documentation: no generated request,
valid or not, gets a server error, and every answer's content type is one the document declares. It runs
on a stack of its own: fuzzing the auth routes locks the loopback address out of logins (the per-IP
limit), which every later test would feel.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

# Routes that end the caller's session would revoke the token the rest of the run uses.
EXCLUDED = r"^/v1/auth/logout$|^/v1/users/\{[^}]+\}$"
SEED = "20261202"
SMOKE_CHECKS = "not_a_server_error,content_type_conformance"


def fuzz(stack: Stack, token: str, examples: int) -> subprocess.CompletedProcess[str]:
    checks = os.environ.get("GS_FUZZ_CHECKS", SMOKE_CHECKS)
    phases = os.environ.get("GS_FUZZ_PHASES", "examples,fuzzing")
    return subprocess.run(  # noqa: S603 - our own virtualenv's schemathesis, fixed arguments
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{stack.api}/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            checks,
            "--phases",
            phases,
            "--max-examples",
            str(examples),
            "--seed",
            SEED,
            "--exclude-path-regex",
            EXCLUDED,
            "--workers",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )


def test_no_generated_request_gets_a_server_error(private_stack: Stack) -> None:
    user = private_stack.register("fuzz-user@example.com")["accessToken"]
    admin = private_stack.admin_token()
    for token in (user, admin):
        result = fuzz(private_stack, token, examples=int(os.environ.get("GS_FUZZ_EXAMPLES", "5")))
        if os.environ.get("GS_FUZZ_REPORT"):
            print(result.stdout)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
