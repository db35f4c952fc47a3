"""Alerts end to end, as users and devices would: a gas sensor connected over mutual TLS (awsiotsdk, the
local Mosquitto) publishes a leak; through ingest, ReadingsAccepted on the default bus, the alerts-events
queue and the evaluator, a critical alert is open within 5 s; a repeated breach counts on it (no second
alert); the owner acknowledges it; silent while `gridshare clock advance` moves the stack's clock, the
sensor raises an `offline` alert, which resolves when it speaks again; another user gets 404.

Runs on a stack of its own (`private_stack`): moving the clock would move it under every later test.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5

from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import REPO, Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

LEAK_TO_ALERT_S = 5.0


def _now_ms(stack: Stack) -> int:
    return int(stack.call("GET", "/_local/clock").json()["data"]["nowMs"])


def _alerts(stack: Stack, token: str, query: str = "") -> list[dict[str, Any]]:
    response = stack.call("GET", f"/v1/alerts{query}", token=token)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def _advance(stack: Stack, duration: str) -> None:
    advanced = subprocess.run(
        [sys.executable, "-m", "gridshare_local.cli", "clock", "advance", duration],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert advanced.returncode == 0, advanced.stdout + advanced.stderr
    assert "device-offline-sweep" in advanced.stdout and "alert-reminders" in advanced.stdout, advanced.stdout


def test_a_leak_raises_one_critical_alert_and_a_silent_sensor_an_offline_one(
    private_stack: Stack, tmp_path: Path
) -> None:
    stack = private_stack
    token = stack.register("alerts@example.com")["accessToken"]
    created = stack.call("POST", "/v1/devices", {"name": "LPG tank", "type": "gas_sensor"}, token=token)
    assert created.status_code == 201, created.text
    sensor = created.json()["data"]

    with DeviceConnection(sensor, tmp_path / "sensor") as device:
        # Given a gas sensor that publishes a leak over MQTT
        leak = {"ts": _now_ms(stack), "seq": 1, "metrics": {"leak": True, "gas_level_pct": 61.0}}
        published_at = time.monotonic()
        assert device.send_telemetry(leak) == mqtt5.PubackReasonCode.SUCCESS

        # Then within 5 s a critical leak alert is open for its owner
        def open_leak() -> dict[str, Any] | None:
            found = [a for a in _alerts(stack, token, "?status=open&severity=critical") if a["kind"] == "leak"]
            return found[0] if found else None

        alert = wait_for(open_leak, what="an open critical leak alert", timeout=LEAK_TO_ALERT_S)
        assert time.monotonic() - published_at <= LEAK_TO_ALERT_S
        assert alert["deviceId"] == sensor["id"] and alert["count"] == 1 and alert["lastValue"] is True
        assert alert["ruleId"] == f"leak-{sensor['id']}" and alert["title"] and alert["message"]

        # When the leak is published again: the same alert counts it, no second alert opens
        again = {"ts": _now_ms(stack) + 1, "seq": 2, "metrics": {"leak": True}}
        assert device.send_telemetry(again) == mqtt5.PubackReasonCode.SUCCESS

        def counted() -> dict[str, Any] | None:
            current = stack.call("GET", f"/v1/alerts/{alert['id']}", token=token).json()["data"]
            return current if current["count"] == 2 else None

        wait_for(counted, what="the repeat counted", timeout=10)
        assert [a["id"] for a in _alerts(stack, token, "?deviceId=" + sensor["id"]) if a["kind"] == "leak"] == [
            alert["id"]
        ]

        # When the owner acknowledges it
        acked = stack.call("POST", f"/v1/alerts/{alert['id']}/acknowledge", {"note": "valve shut"}, token=token)
        assert acked.status_code == 200, acked.text
        assert acked.json()["data"]["status"] == "acknowledged" and acked.json()["data"]["acknowledged"] is True

        # And another user sees none of it
        other = stack.register("alerts-other@example.com")["accessToken"]
        assert stack.call("GET", f"/v1/alerts/{alert['id']}", token=other).status_code == 404
        assert stack.call("POST", f"/v1/alerts/{alert['id']}/resolve", token=other).status_code == 404
        assert _alerts(stack, other) == []

        # When the sensor stays silent while the stack's clock moves ten minutes
        _advance(stack, "10m")

        # Then an offline warning is open
        def open_offline() -> dict[str, Any] | None:
            found = [a for a in _alerts(stack, token, "?status=open") if a["kind"] == "offline"]
            return found[0] if found else None

        offline = wait_for(open_offline, what="an open offline alert", timeout=15)
        assert offline["severity"] == "warning" and offline["deviceId"] == sensor["id"]

        # And when it speaks again, the offline alert resolves
        level = {"ts": _now_ms(stack), "seq": 3, "metrics": {"gas_level_pct": 60.5}}
        assert device.send_telemetry(level) == mqtt5.PubackReasonCode.SUCCESS

        def resolved() -> dict[str, Any] | None:
            current = stack.call("GET", f"/v1/alerts/{offline['id']}", token=token).json()["data"]
            return current if current["status"] == "resolved" else None

        done = wait_for(resolved, what="the offline alert resolved", timeout=15)
        assert done["resolvedBy"] == "auto" and done["resolvedAt"]
