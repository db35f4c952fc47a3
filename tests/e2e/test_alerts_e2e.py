"""Alerts end to end, as users and devices would: a gas sensor connected over mutual TLS (awsiotsdk, the
local Mosquitto) publishes a leak; through ingest, ReadingsAccepted on the default bus, the alerts-events
queue and the evaluator, a critical alert is open within 5 s, and through AlertOpened, the notifier and
its deliveries an email and an SMS are in the outbox for the owner and an app's WebSocket subscribed to
`alerts` gets `alert.opened`, all within the same 5 s; a repeated breach counts on it (no second alert);
the owner acknowledges it and the socket gets `alert.updated`; silent while `gridshare clock advance`
moves the stack's clock, the sensor raises an `offline` alert, which resolves when it speaks again, and
which the owner acknowledges over the socket; another user gets 404 and cannot subscribe to the sensor.

Runs on a stack of its own (`private_stack`): moving the clock would move it under every later test.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5
from websockets.asyncio.client import ClientConnection, connect

from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import REPO, Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

LEAK_TO_ALERT_S = 5.0
PHONE = "+4915112345678"


async def _next(ws: ClientConnection, kind: str, timeout: float = 10.0, status: str | None = None) -> dict[str, Any]:
    """The next server message of `kind` (and alert `status`, when given); others are skipped."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if message["type"] == kind and (status is None or message["data"].get("status") == status):
            return dict(message)


def _outbox(stack: Stack, to: str, alert_id: str, title: str) -> list[dict[str, Any]]:
    messages = stack.call("GET", "/_local/outbox", params={"to": to}).json()["data"]
    return [m for m in messages if title in m["subject"] or title in m["body"] or alert_id in m["body"]]


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

    # Given an owner who wants SMS too, with an app connected to the WebSocket API and subscribed to alerts
    prefs = {"email": True, "sms": True, "push": True, "phone": PHONE, "minSeverity": "info", "quietHours": None}
    saved = stack.call("PUT", "/v1/me/notification-preferences", prefs, token=token)
    assert saved.status_code == 200, saved.text
    other = stack.register("alerts-other@example.com")["accessToken"]
    loop = asyncio.new_event_loop()
    ws = loop.run_until_complete(connect(f"{stack.ws}?token={token}"))
    snoop = loop.run_until_complete(connect(f"{stack.ws}?token={other}"))
    try:
        loop.run_until_complete(ws.send(json.dumps({"action": "subscribe", "topics": ["alerts"]})))
        loop.run_until_complete(_next(ws, "subscribed"))
        loop.run_until_complete(
            snoop.send(json.dumps({"action": "subscribe", "topics": [f"devices/{sensor['id']}/readings"]}))
        )
        refused = loop.run_until_complete(_next(snoop, "error"))
        assert refused["data"]["topic"] == f"devices/{sensor['id']}/readings"
        _scenario(stack, token, other, sensor, tmp_path, loop, ws)
    finally:
        loop.run_until_complete(ws.close())
        loop.run_until_complete(snoop.close())
        loop.close()


def _scenario(
    stack: Stack,
    token: str,
    other: str,
    sensor: dict[str, Any],
    tmp_path: Path,
    loop: asyncio.AbstractEventLoop,
    ws: ClientConnection,
) -> None:
    with DeviceConnection(sensor, tmp_path / "sensor") as device:
        # When the gas sensor publishes a leak over MQTT
        leak = {"ts": _now_ms(stack), "seq": 1, "metrics": {"leak": True, "gas_level_pct": 61.0}}
        published_at = time.monotonic()
        assert device.send_telemetry(leak) == mqtt5.PubackReasonCode.SUCCESS

        # Then within 5 s a critical leak alert is open for its owner
        def open_leak() -> dict[str, Any] | None:
            found = [a for a in _alerts(stack, token, "?status=open&severity=critical") if a["kind"] == "leak"]
            return found[0] if found else None

        alert = wait_for(open_leak, what="an open critical leak alert", timeout=LEAK_TO_ALERT_S)
        assert alert["deviceId"] == sensor["id"] and alert["count"] == 1 and alert["lastValue"] is True
        assert alert["ruleId"] == f"leak-{sensor['id']}" and alert["title"] and alert["message"]
        # And the app's socket has alert.opened, and the owner's email and SMS are in the outbox, within 5 s
        opened = loop.run_until_complete(_next(ws, "alert.opened", timeout=LEAK_TO_ALERT_S))
        assert opened["data"]["id"] == alert["id"] and opened["data"]["severity"] == "critical"
        for to, channel in (("alerts@example.com", "email"), (PHONE, "sms")):
            left = max(0.5, LEAK_TO_ALERT_S - (time.monotonic() - published_at))
            found = wait_for(lambda to=to: _outbox(stack, to, alert["id"], alert["title"]), what=channel, timeout=left)
            assert {m["channel"] for m in found} == {channel}
        assert time.monotonic() - published_at <= LEAK_TO_ALERT_S

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

        # When the owner acknowledges it through the API, the app's socket hears of it
        acked = stack.call("POST", f"/v1/alerts/{alert['id']}/acknowledge", {"note": "valve shut"}, token=token)
        assert acked.status_code == 200, acked.text
        assert acked.json()["data"]["status"] == "acknowledged" and acked.json()["data"]["acknowledged"] is True
        # (the repeat's count may come first: alert.updated is sent when what a user sees changes)
        updated = loop.run_until_complete(_next(ws, "alert.updated", status="acknowledged"))
        assert updated["data"]["id"] == alert["id"] and updated["data"]["acknowledgedAt"]

        # And another user sees none of it
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
        # And the owner acknowledges it over the socket (another user's acknowledgement is refused)
        ack = {"action": "acknowledgeAlert", "alertId": offline["id"], "note": "on it"}
        loop.run_until_complete(ws.send(json.dumps(ack)))
        answered = loop.run_until_complete(_next(ws, "alert.acknowledged"))
        assert answered["data"]["alert"]["id"] == offline["id"]
        assert answered["data"]["alert"]["status"] == "acknowledged"

        # And when it speaks again, the offline alert resolves
        level = {"ts": _now_ms(stack), "seq": 3, "metrics": {"gas_level_pct": 60.5}}
        assert device.send_telemetry(level) == mqtt5.PubackReasonCode.SUCCESS

        def resolved() -> dict[str, Any] | None:
            current = stack.call("GET", f"/v1/alerts/{offline['id']}", token=token).json()["data"]
            return current if current["status"] == "resolved" else None

        done = wait_for(resolved, what="the offline alert resolved", timeout=15)
        assert done["resolvedBy"] == "auto" and done["resolvedAt"]
