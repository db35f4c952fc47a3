"""Device health end to end, as a device would report: a meter connected over mutual TLS (awsiotsdk, the
local Mosquitto) sends a reading and is online; silent while `gridshare clock advance` moves the stack's
clock past its limit, the offline schedule fires and it is offline; its next reading (and, later, a
heartbeat on gs/v1/{thing}/heartbeat, through the heartbeat rule and its queue) brings it back online; the
status history shows each transition. Nothing sleeps for time to pass.

Runs on a stack of its own (`private_stack`): moving the clock would move it under every later test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5

from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import REPO, Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def _gridshare(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridshare_local.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _now_ms(stack: Stack) -> int:
    return int(stack.call("GET", "/_local/clock").json()["data"]["nowMs"])


def _device(stack: Stack, token: str, device_id: str) -> dict[str, Any]:
    response = stack.call("GET", f"/v1/devices/{device_id}", token=token)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _until_status(stack: Stack, token: str, device_id: str, status: str) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        device = _device(stack, token, device_id)
        return device if device["status"] == status else None

    return wait_for(current, what=f"device {status}", timeout=30)


def _advance(stack: Stack, duration: str) -> None:
    advanced = _gridshare("clock", "advance", duration, env=stack.env)
    assert advanced.returncode == 0, advanced.stdout + advanced.stderr
    assert "device-offline-sweep" in advanced.stdout, advanced.stdout


def test_a_silent_device_goes_offline_and_comes_back_on_its_next_reading_or_heartbeat(
    private_stack: Stack, tmp_path: Path
) -> None:
    stack = private_stack
    token = stack.register("health@example.com")["accessToken"]
    meter = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]
    assert meter["status"] == "never_seen" and meter["lastSeenAt"] is None

    with DeviceConnection(meter, tmp_path / "meter") as device:
        # Given a meter that reports a reading over mutual TLS
        reading = {"ts": _now_ms(stack), "seq": 1, "metrics": {"power_w": 120.0}}
        assert device.send_telemetry(reading) == mqtt5.PubackReasonCode.SUCCESS
        online = _until_status(stack, token, meter["id"], "online")
        assert online["lastSeenAt"] is not None and online["offlineAfterS"] == 180

        # When it stays silent while the stack's clock moves ten minutes (the offline schedule fires)
        _advance(stack, "10m")

        # Then it is offline
        _until_status(stack, token, meter["id"], "offline")
        listed = stack.call("GET", "/v1/devices?status=offline", token=token).json()["data"]
        assert [d["id"] for d in listed] == [meter["id"]]

        # When it sends its next reading, it is online again
        reading = {"ts": _now_ms(stack), "seq": 2, "metrics": {"power_w": 130.0}}
        assert device.send_telemetry(reading) == mqtt5.PubackReasonCode.SUCCESS
        _until_status(stack, token, meter["id"], "online")

        # And after another silence, a heartbeat (its payload is not read) brings it back too
        _advance(stack, "10m")
        _until_status(stack, token, meter["id"], "offline")
        assert device.publish(meter["topics"]["heartbeat"], b"{}") == mqtt5.PubackReasonCode.SUCCESS
        back = _until_status(stack, token, meter["id"], "online")
        assert back["lastSeenAt"] > online["lastSeenAt"]

    # And the status history shows every transition, newest first
    history = stack.call("GET", f"/v1/devices/{meter['id']}/status-history", token=token)
    assert history.status_code == 200, history.text
    assert [(h["previous"], h["status"]) for h in history.json()["data"]] == [
        ("offline", "online"),
        ("online", "offline"),
        ("offline", "online"),
        ("online", "offline"),
        ("never_seen", "online"),
    ]
    # And another user sees neither the device nor its history; stats are for admins and operators only
    other = stack.register("health-other@example.com")["accessToken"]
    assert stack.call("GET", f"/v1/devices/{meter['id']}/status-history", token=other).status_code == 404
    refused = stack.call("GET", "/v1/devices/stats", token=token)
    assert refused.status_code == 403 and refused.headers["Content-Type"] == "application/problem+json"
