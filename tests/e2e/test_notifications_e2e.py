"""Notifications and real-time push end to end, as a user, their app and a device would use them.

A user saves preferences (a phone) and registers a push token, opens the WebSocket API with their access token
and subscribes to `alerts` and to their device's readings; an alert event on the stack's EventBridge (what the
alerts context publishes, docs/events.md) reaches the outbox as an email and an SMS and the socket as
`alert.opened`; quiet hours hold back a warning but not a critical; another user's device topic is refused, an
invalid token is refused at connect.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import websockets
from awscrt import mqtt5
from websockets.asyncio.client import ClientConnection, connect

from gridshare.kernel.ids import new_id
from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import Stack, env_json
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def _put_alert(stack: Stack, owner: str, severity: str, title: str, kind: str = "AlertOpened") -> dict[str, Any]:
    env = env_json(stack)
    alert_id = new_id()
    now = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
    alert = {
        "id": alert_id,
        "ruleId": new_id(),
        "deviceId": None,
        "siteId": None,
        "kind": "threshold",
        "type": "threshold",
        "severity": severity,
        "status": "open",
        "title": title,
        "message": f"{title}: check it",
        "count": 1,
        "lastValue": 42,
        "openedAt": now,
        "acknowledged": False,
        "acknowledgedBy": None,
        "acknowledgedAt": None,
        "note": None,
        "resolved": False,
        "resolvedAt": None,
        "reminders": 0,
        "test": False,
    }
    detail = {
        "alert": alert,
        "ownerId": owner,
        "channels": ["email", "sms", "push", "websocket"],
        "occurrence": "opened",
        "audience": "owner",
    }
    events = boto3.client("events", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"])
    result = events.put_events(
        Entries=[{"Source": "gridshare.alerts", "DetailType": kind, "Detail": json.dumps(detail)}]
    )
    assert result["FailedEntryCount"] == 0
    return alert


def _outbox(stack: Stack, to: str, title: str) -> list[dict[str, Any]]:
    messages = stack.call("GET", "/_local/outbox", params={"to": to}).json()["data"]
    return [m for m in messages if title in m["subject"] or title in m["body"]]


async def _next(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next message of `kind` (others, e.g. `subscribed`, are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if message["type"] == kind:
            return dict(message)


def _quiet_now() -> dict[str, str]:
    now = datetime.now(tz=UTC)
    return {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
        "timezone": "UTC",
    }


def test_alerts_reach_the_outbox_and_the_socket_by_preference(stack: Stack, tmp_path: Path) -> None:
    login = stack.register("notified@example.com")
    token, user = login["accessToken"], login["user"]["id"]
    other = stack.register("stranger@example.com")["accessToken"]
    meter = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]
    theirs = stack.call("POST", "/v1/devices", {"name": "theirs", "type": "meter"}, token=other).json()["data"]
    phone, push_token = "+4915123456789", "fcm-token-" + new_id()

    # Given preferences with a phone, and a push token registered as an SNS endpoint
    saved = stack.call(
        "PUT",
        "/v1/me/notification-preferences",
        {"email": True, "sms": True, "push": True, "phone": phone, "minSeverity": "info", "quietHours": None},
        token=token,
    )
    assert saved.status_code == 200, saved.text
    bad = stack.call("PUT", "/v1/me/notification-preferences", {"sms": True, "phone": "0151"}, token=token)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone"
    registered = stack.call("POST", "/v1/me/push-tokens", {"platform": "fcm", "token": push_token}, token=token)
    assert registered.status_code == 201, registered.text

    async def scenario() -> None:
        # An invalid token is refused at connect
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(f"{stack.ws}?token=not-a-token"):
                pass
        assert refused.value.response.status_code == 401

        async with connect(f"{stack.ws}?token={token}") as ws:
            await ws.send(json.dumps({"action": "ping"}))
            assert (await _next(ws, "pong"))["type"] == "pong"
            # When the user subscribes to their alerts, their device's readings and another user's device
            topics = ["alerts", f"devices/{meter['id']}/readings", f"devices/{theirs['id']}/readings"]
            await ws.send(json.dumps({"action": "subscribe", "topics": topics}))
            error = await _next(ws, "error")
            assert error["data"]["topic"] == f"devices/{theirs['id']}/readings"
            assert (await _next(ws, "subscribed"))["data"]["topics"] == topics[:2]

            # When the alerts context publishes AlertOpened for the user
            started = time.monotonic()
            alert = _put_alert(stack, user, "critical", "Gas leak in the kitchen")
            # Then alert.opened arrives on the socket, and an email, an SMS and a push are in the outbox, within 5 s
            opened = await _next(ws, "alert.opened")
            assert opened["data"]["id"] == alert["id"] and opened["data"]["severity"] == "critical"
            for to, channel in (("notified@example.com", "email"), (phone, "sms"), (push_token, "push")):
                found = wait_for(lambda to=to: _outbox(stack, to, alert["title"]), what=channel, timeout=5)
                assert [m["channel"] for m in found] == [channel]
            assert time.monotonic() - started < 5

            # And the device's readings are pushed (ReadingsAccepted, as ingest publishes it)
            env = env_json(stack)
            reading = {
                "deviceId": meter["id"],
                "ownerId": user,
                "deviceType": "meter",
                "siteId": None,
                "ts": datetime.now(tz=UTC).isoformat().replace("+00:00", "Z"),
                "metrics": {"power_w": 321.0},
            }
            boto3.client("events", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"]).put_events(
                Entries=[
                    {
                        "Source": "gridshare.telemetry",
                        "DetailType": "ReadingsAccepted",
                        "Detail": json.dumps({"readings": [reading]}),
                    }
                ]
            )
            pushed = await _next(ws, "reading")
            assert pushed["data"]["deviceId"] == meter["id"] and pushed["data"]["metrics"] == {"power_w": 321.0}

    asyncio.run(scenario())

    # And the inbox has the alert, unread; reading it marks it read
    inbox = stack.call("GET", "/v1/notifications", token=token).json()["data"]
    assert [n["title"] for n in inbox] == ["Gas leak in the kitchen"] and not inbox[0]["read"]
    read = stack.call("POST", f"/v1/notifications/{inbox[0]['id']}/read", token=token)
    assert read.status_code == 200 and read.json()["data"]["read"] is True
    assert stack.call("POST", f"/v1/notifications/{inbox[0]['id']}/read", token=other).status_code == 404


def test_quiet_hours_hold_back_a_warning_but_not_a_critical(stack: Stack) -> None:
    login = stack.register("quiet@example.com")
    token, user = login["accessToken"], login["user"]["id"]
    phone = "+14155550142"
    prefs = {
        "email": True,
        "sms": True,
        "push": False,
        "phone": phone,
        "minSeverity": "info",
        "quietHours": _quiet_now(),
    }
    assert stack.call("PUT", "/v1/me/notification-preferences", prefs, token=token).status_code == 200

    # When a warning arrives inside the quiet hours, and then a critical
    warning = _put_alert(stack, user, "warning", "Tank below 20 percent")
    wait_for(
        lambda: any(
            n["alertId"] == warning["id"] for n in stack.call("GET", "/v1/notifications", token=token).json()["data"]
        ),
        what="the warning in the inbox",
        timeout=10,
    )
    critical = _put_alert(stack, user, "critical", "Gas leak in the garage")

    # Then the critical is emailed and texted, the warning neither (it is in the inbox only)
    wait_for(lambda: _outbox(stack, phone, critical["title"]), what="critical SMS", timeout=10)
    wait_for(lambda: _outbox(stack, "quiet@example.com", critical["title"]), what="critical email", timeout=10)
    assert _outbox(stack, phone, warning["title"]) == []
    assert _outbox(stack, "quiet@example.com", warning["title"]) == []


def _ingest_publishes_readings() -> bool:
    return any(
        "ReadingsAccepted" in p.read_text() for p in (REPO / "layers/gridshare/gridshare/telemetry").glob("*.py")
    )


@pytest.mark.skipif(
    not _ingest_publishes_readings(), reason="telemetry ingest publishes ReadingsAccepted (alerts' part)"
)
def test_a_reading_published_over_mqtt_is_pushed_to_the_socket(stack: Stack, tmp_path: Path) -> None:
    login = stack.register("live@example.com")
    token = login["accessToken"]
    meter = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]

    async def scenario() -> None:
        async with connect(f"{stack.ws}?token={token}") as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": [f"devices/{meter['id']}/readings"]}))
            await _next(ws, "subscribed")
            with DeviceConnection(meter, tmp_path / "meter") as device:
                now = int(time.time() * 1000)
                code = device.send_telemetry({"ts": now, "seq": 1, "metrics": {"power_w": 512.0}})
                assert code == mqtt5.PubackReasonCode.SUCCESS
                pushed = await _next(ws, "reading", timeout=10)
            assert pushed["data"]["deviceId"] == meter["id"] and pushed["data"]["metrics"]["power_w"] == 512.0

    asyncio.run(scenario())


def test_a_command_answered_by_the_device_is_pushed_as_command_updated(stack: Stack, tmp_path: Path) -> None:
    token = stack.register("commands-live@example.com")["accessToken"]
    meter = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]

    async def scenario() -> None:
        async with connect(f"{stack.ws}?token={token}") as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": ["commands"]}))
            assert (await _next(ws, "subscribed"))["data"]["topics"] == ["commands"]
            with DeviceConnection(meter, tmp_path / "meter") as device:
                device.subscribe(meter["topics"]["commands"])
                sent = stack.call(
                    "POST", f"/v1/devices/{meter['id']}/commands", {"name": "reset_counters"}, token=token
                )
                assert sent.status_code == 202, sent.text
                _, message = device.next_message()
                assert device.acknowledge(message, "succeeded", {}) == mqtt5.PubackReasonCode.SUCCESS
                updated = await _next(ws, "command.updated", timeout=15)
            assert updated["data"]["deviceId"] == meter["id"]
            assert updated["data"]["command"]["id"] == sent.json()["data"]["id"]
            assert updated["data"]["command"]["status"] == "succeeded"

    asyncio.run(scenario())
