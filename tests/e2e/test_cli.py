"""The `gridshare` commands a developer runs: demo, simulate, outbox, admin create."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import REPO, Stack

pytestmark = pytest.mark.e2e


def _gridshare(*args: str, env: dict[str, str] | None = None, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridshare_local.cli", *args],
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_runs_the_whole_system_and_exits_0() -> None:
    result = _gridshare("demo", "--devices", "2", "--readings", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary: 6/6 readings stored, 2 dead-lettered" in result.stdout


def test_simulate_streams_a_fleet_into_a_running_stack(stack: Stack) -> None:
    stack.register("fleet@example.com", password="Fleet-Passw0rd")
    result = _gridshare(
        "simulate",
        "--email",
        "fleet@example.com",
        "--password",
        "Fleet-Passw0rd",
        "--devices",
        "4",
        "--count",
        "3",
        "--interval",
        "0.2",
        env=stack.env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sent 12 readings from 4 devices" in result.stdout
    login = stack.call("POST", "/v1/auth/login", {"email": "fleet@example.com", "password": "Fleet-Passw0rd"})
    token = login.json()["data"]["accessToken"]
    devices = stack.call("GET", "/v1/devices", token=token).json()["data"]
    assert sorted(d["type"] for d in devices) == ["battery", "gas_sensor", "inverter", "meter"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seqs = [stack.call("GET", f"/v1/devices/{d['id']}/readings/latest", token=token) for d in devices]
        if all(r.status_code == 200 and r.json()["data"]["seq"] == 3 for r in seqs):
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the simulated readings did not all arrive")


def test_outbox_and_admin_create_commands(stack: Stack) -> None:
    stack.call(
        "POST",
        "/v1/auth/register",
        {"email": "mail@example.com", "password": "Passw0rd!x", "name": "M", "role": "consumer"},
    )
    outbox = _gridshare("outbox", "--to", "mail@example.com", env=stack.env)
    assert outbox.returncode == 0 and "Verify your Gridshare email" in outbox.stdout and "[code " in outbox.stdout
    created = _gridshare("admin", "create", "--email", "root@example.com", "--password", "R00t-Passw0rd", env=stack.env)
    assert created.returncode == 0, created.stderr
    login = stack.call("POST", "/v1/auth/login", {"email": "root@example.com", "password": "R00t-Passw0rd"})
    assert login.status_code == 200 and login.json()["data"]["user"]["role"] == "admin"
