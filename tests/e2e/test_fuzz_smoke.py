"""A short, seeded schemathesis run against the whole local stack, as a user and as an admin.

The full run is `make fuzz` (GS_FUZZ_EXAMPLES=100, GS_FUZZ_CHECKS=all, the coverage phase too, failures
shrunk). The smoke inside `make test` keeps the contract that needs no further documentation: no generated
request, valid or not, gets a server error, and every answer's content type is one the document declares.
It still reaches every operation (the schema's examples, then 2 generated cases each), without shrinking a
failure (GS_FUZZ_SHRINK=1 shrinks: the failing request is printed either way). It runs
on a stack of its own: fuzzing the auth routes locks the loopback address out of logins (the per-IP
limit), which every later test would feel.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

# Routes that end the caller's session would revoke the token the rest of the run uses.
EXCLUDED = r"^/v1/auth/logout$|^/v1/users/\{[^}]+\}$"
SEED = "20261202"
# Operations that refuse some schema-valid requests for a reason the schema cannot state, each with it.
CONFIG = Path(__file__).with_name("schemathesis.toml")
SMOKE_CHECKS = "not_a_server_error,content_type_conformance"


def fuzz(stack: Stack, token: str, examples: int, device_id: str) -> subprocess.CompletedProcess[str]:
    checks = os.environ.get("GS_FUZZ_CHECKS", SMOKE_CHECKS)
    phases = os.environ.get("GS_FUZZ_PHASES", "examples,fuzzing")
    shrink = [] if os.environ.get("GS_FUZZ_SHRINK") == "1" else ["--no-shrink"]
    return subprocess.run(  # noqa: S603 - our own virtualenv's schemathesis, fixed arguments
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(CONFIG),
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
            *shrink,
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "GS_FUZZ_DEVICE_ID": device_id},
    )


def test_no_generated_request_gets_a_server_error(private_stack: Stack) -> None:
    user = private_stack.register("fuzz-user@example.com")["accessToken"]
    admin = private_stack.admin_token()
    created = private_stack.call("POST", "/v1/devices", {"name": "fuzzed meter", "type": "meter"}, token=user)
    assert created.status_code == 201, created.text
    device_id = created.json()["data"]["id"]
    failed = []
    for who, token in (("user", user), ("admin", admin)):
        result = fuzz(private_stack, token, int(os.environ.get("GS_FUZZ_EXAMPLES", "2")), device_id)
        if os.environ.get("GS_FUZZ_REPORT"):
            print(f"===== as {who} =====")
            print(result.stdout)
        if result.returncode != 0:
            failed.append(f"as {who}:\n" + result.stdout[-6000:] + result.stderr[-2000:])
    assert failed == [], "\n".join(failed)
