"""The `gridshare` commands a developer runs: demo, simulate, outbox, admin create, and how they fail.

Failures that need no stack (no stack at all, a weak password, a missing password, --help) are in
tests/local/test_cli_errors.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

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


def _private_tmp() -> Path:
    """A TMPDIR of the test's own: other runs on the machine leave their own files in the system one.
    Not mode 700: Mosquitto drops root and must enter a demo's state directory under it."""
    directory = Path(tempfile.mkdtemp(prefix="gridshare-cli-tmp-"))
    directory.chmod(0o755)
    return directory


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_demo_runs_the_whole_system_exits_0_and_leaves_nothing_behind() -> None:
    tmp = _private_tmp()
    result = _gridshare("demo", "--devices", "2", "--readings", "3", env={**os.environ, "TMPDIR": str(tmp)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary: 6/6 readings stored, 2 dead-lettered" in result.stdout
    assert list(tmp.iterdir()) == []  # its state directory (CA, device keys) is gone
    tmp.rmdir()


def test_simulate_reuses_its_fleet_under_the_state_dir(stack: Stack) -> None:
    stack.register("fleet@example.com", password="Fleet-Passw0rd")
    tmp = _private_tmp()
    env = {**stack.env, "TMPDIR": str(tmp), "GS_PASSWORD": "Fleet-Passw0rd"}
    simulate = ("simulate", "--email", "fleet@example.com", "--devices", "2", "--count", "2", "--interval", "0.2")
    simulate += ("--fleet", "roof")

    # Given a one-off run (no --fleet), Then what it created on disk is gone when it exits
    once = _gridshare(*simulate[:-2], env=env)
    assert once.returncode == 0, once.stdout + once.stderr
    assert "removed: its keys and record are deleted" in once.stdout
    assert not (stack.state_dir / "fleets").exists() or list((stack.state_dir / "fleets").iterdir()) == []

    # Given a first run of a named fleet, which provisions its devices
    first = _gridshare(*simulate, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "0 devices reused, 2 devices new" in first.stdout
    assert "sent 4 readings from 2 devices, 4 stored" in first.stdout
    assert "meter" in first.stdout and "2/2" in first.stdout  # the per-device sent/stored line

    # When it runs again, Then it streams from the same devices, their seq continuing (nothing refused)
    second = _gridshare(*simulate, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "2 devices reused, 0 devices new" in second.stdout
    assert "sent 4 readings from 2 devices, 4 stored" in second.stdout
    token = stack.call("POST", "/v1/auth/login", {"email": "fleet@example.com", "password": "Fleet-Passw0rd"})
    token = token.json()["data"]["accessToken"]
    devices = stack.call("GET", "/v1/devices", token=token).json()["data"]
    devices = [d for d in devices if d["name"].startswith("roof ")]  # not the one-off run's
    assert sorted(d["type"] for d in devices) == ["inverter", "meter"]
    for device in devices:
        latest = stack.call("GET", f"/v1/devices/{device['id']}/readings/latest", token=token)
        assert latest.json()["data"]["seq"] == 4

    # And its keys live under the state directory, owner-only; nothing is left in the system temp dir
    fleet = stack.state_dir / "fleets" / "roof"
    keys = sorted(fleet.glob("*.key"))
    assert [k.stem for k in keys] == sorted(d["thingName"] for d in devices)
    assert all(_mode(k) == 0o600 for k in keys) and _mode(fleet) == 0o700 and _mode(fleet / "fleet.json") == 0o600
    assert list(tmp.iterdir()) == []

    # When a run is told to forget the fleet, Then its keys are deleted on exit
    forgotten = _gridshare(*simulate[:-6], "--count", "1", "--fleet", "roof", "--forget", env=env)
    assert forgotten.returncode == 0, forgotten.stdout + forgotten.stderr
    assert not fleet.exists()
    tmp.rmdir()


def test_simulate_with_a_wrong_password_says_the_login_failed(stack: Stack) -> None:
    stack.register("wrongpass@example.com", password="Right-Passw0rd")
    result = _gridshare(
        "simulate", "--email", "wrongpass@example.com", "--password", "Wrong-Passw0rd", "--count", "1", env=stack.env
    )
    assert _one_line_error(result) == (
        "gridshare simulate: login failed for wrongpass@example.com: Invalid email or password (HTTP 401)"
    )


def test_outbox_and_admin_create_commands(stack: Stack) -> None:
    stack.call(
        "POST",
        "/v1/auth/register",
        {"email": "mail@example.com", "password": "Passw0rd!x", "name": "M", "role": "consumer"},
    )
    outbox = _gridshare("outbox", "--to", "mail@example.com", env=stack.env)
    assert outbox.returncode == 0 and "Verify your Gridshare email" in outbox.stdout and "[code " in outbox.stdout
    empty = _gridshare("outbox", "--to", "nobody@example.com", env=stack.env)
    assert empty.returncode == 0 and empty.stdout == "no mail for nobody@example.com\n"

    created = _gridshare("admin", "create", "--email", "root@example.com", "--password", "R00t-Passw0rd", env=stack.env)
    assert created.returncode == 0, created.stderr
    login = stack.call("POST", "/v1/auth/login", {"email": "root@example.com", "password": "R00t-Passw0rd"})
    assert login.status_code == 200 and login.json()["data"]["user"]["role"] == "admin"

    # A second admin with the same email is refused, saying the email exists
    again = _gridshare("admin", "create", "--email", "Root@Example.com", "--password", "R00t-Passw0rd", env=stack.env)
    assert _one_line_error(again) == (
        "gridshare admin create: root@example.com already has an account: no admin was created"
    )
    # A weak password names the policy (checked before the stack is touched)
    weak = _gridshare("admin", "create", "--email", "weak@example.com", "--password", "weak", env=stack.env)
    assert "password policy: at least 8 characters, with an uppercase letter" in _one_line_error(weak)
    # Without a password and without a terminal, it says how to give one
    missing = subprocess.run(
        [sys.executable, "-m", "gridshare_local.cli", "admin", "create", "--email", "nopass@example.com"],
        cwd=REPO,
        env={k: v for k, v in stack.env.items() if k != "GS_ADMIN_PASSWORD"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "no password: give --password or set GS_ADMIN_PASSWORD" in _one_line_error(missing)
    assert stack.call("POST", "/v1/auth/login", {"email": "weak@example.com", "password": "weak"}).status_code == 401
