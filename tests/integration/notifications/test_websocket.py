"""The WebSocket API's handler against moto, with API Gateway-shaped events and a stand-in @connections API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridshare.kernel import clock
from gridshare.notifications import entries
from gridshare.notifications.connections import ConnectionStore, Pusher
from gridshare.notifications.live import LivePush
from gridshare.notifications.websocket import WebSocketRoutes
from gridshare_local.lambda_runtime import LambdaContext
from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device
from tests.support.notifications import FakeConnections, envelope, sqs_batch

CONTEXT = LambdaContext("notifications-websocket")


def _event(route: str, connection_id: str, body: str | None = None, token: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route,
            "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "connectionId": connection_id,
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "stage": "dev",
            "requestId": "req-1",
        },
        "isBase64Encoded": False,
    }
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    if body is not None:
        event["body"] = body
    return event


@pytest.fixture
def sockets(aws: dict[str, str]) -> Any:
    fake = FakeConnections()
    store = ConnectionStore()
    with entries.websocket_routes.override(WebSocketRoutes(store=store, pusher=Pusher(store, api=fake))):
        yield fake


def _call(event: dict[str, Any]) -> dict[str, Any]:
    return dict(entries.websocket_handler(event, CONTEXT))


def _send(connection_id: str, message: dict[str, Any] | str) -> None:
    body = message if isinstance(message, str) else json.dumps(message)
    assert _call(_event("$default", connection_id, body))["statusCode"] == 200


def test_connect_verifies_the_token_as_the_rest_guard_does(api: Api, sockets: FakeConnections) -> None:
    token = register_user(api, "ws-auth@example.com")["accessToken"]
    assert _call(_event("$connect", "c1", token=token))["statusCode"] == 200
    assert _call(_event("$connect", "c2"))["statusCode"] == 401  # no token
    assert _call(_event("$connect", "c3", token="abc.def.ghi"))["statusCode"] == 401
    assert _call(_event("$connect", "c4", token=token[:-4] + "AAAA"))["statusCode"] == 401  # signature
    # A revoked token (logout) is refused too
    assert api.call("POST", "/v1/auth/logout", token=token).status_code == 204
    assert _call(_event("$connect", "c5", token=token))["statusCode"] == 401
    # An expired one as well (the kernel clock, moved past its hour)
    fresh = register_user(api, "ws-late@example.com")["accessToken"]
    with clock.frozen(clock.now_ms() + 2 * 3600_000):
        assert _call(_event("$connect", "c6", token=fresh))["statusCode"] == 401
    assert ConnectionStore().get("c1") is not None and ConnectionStore().get("c5") is None


def test_subscribe_ping_unsubscribe_and_disconnect(api: Api, sockets: FakeConnections) -> None:
    login = register_user(api, "ws-owner@example.com")
    token, user = login["accessToken"], login["user"]["id"]
    mine = create_device(api, token)
    theirs = create_device(api, register_user(api, "ws-stranger@example.com")["accessToken"])
    assert _call(_event("$connect", "conn", token=token))["statusCode"] == 200

    _send("conn", {"action": "ping"})
    assert sockets.to("conn")[-1]["type"] == "pong"
    topics = ["alerts", f"devices/{mine['id']}/readings", f"devices/{mine['id']}/status", "commands", "settlement"]
    _send("conn", {"action": "subscribe", "topics": [*topics, f"devices/{theirs['id']}/readings", "weather"]})
    refused, unknown, subscribed = sockets.to("conn")[-3:]
    assert refused["type"] == "error" and refused["data"]["topic"] == f"devices/{theirs['id']}/readings"
    assert unknown["type"] == "error" and unknown["data"]["topic"] == "weather"
    assert subscribed == {"type": "subscribed", "data": {"topics": topics}, "ts": subscribed["ts"]}
    store = ConnectionStore()
    assert sorted(s.subject for s in store.subscriptions("conn")) == sorted(
        [
            f"alerts@{user}",
            f"commands@{user}",
            f"settlement@{user}",
            f"devices/{mine['id']}/readings",
            f"devices/{mine['id']}/status",
        ]
    )

    # Live data reaches the subscribed connection
    reading = {
        "deviceId": mine["id"],
        "ownerId": user,
        "deviceType": "meter",
        "siteId": None,
        "ts": "2026-03-01T12:00:00.000Z",
        "metrics": {"power_w": 12.5},
    }
    with entries.live_push.override(LivePush(Pusher(store, api=sockets))):
        batch = sqs_batch(
            envelope("gridshare.telemetry", "ReadingsAccepted", {"readings": [reading, {**reading, "deviceId": "x"}]}),
            envelope(
                "gridshare.devices",
                "DeviceStatusChanged",
                {
                    "deviceId": mine["id"],
                    "ownerId": user,
                    "type": "meter",
                    "previous": "never_seen",
                    "status": "online",
                    "at": "2026-03-01T12:00:00.000Z",
                    "lastSeenAt": "2026-03-01T12:00:00.000Z",
                },
            ),
            envelope(
                "gridshare.devices",
                "CommandUpdated",
                {"deviceId": mine["id"], "ownerId": user, "command": {"id": "c", "status": "succeeded"}},
            ),
        )
        assert entries.live_events_handler(batch, CONTEXT) == {"batchItemFailures": []}
    kinds = [m["type"] for m in sockets.to("conn")[-3:]]
    assert kinds == ["reading", "device.status", "command.updated"]
    assert sockets.to("conn")[-3]["data"]["metrics"] == {"power_w": 12.5}

    _send("conn", {"action": "unsubscribe", "topics": ["commands"]})
    assert sockets.to("conn")[-1]["data"] == {"topics": ["commands"]}
    assert len(store.subscriptions("conn")) == 4

    # Garbage is answered with an error, never a failure
    for bad in ("not json", {"action": "dance"}, {"action": "subscribe", "topics": "alerts"}):
        _send("conn", bad)
        assert sockets.to("conn")[-1]["type"] == "error"

    assert _call(_event("$disconnect", "conn"))["statusCode"] == 200
    assert store.get("conn") is None and store.subscriptions("conn") == []
    assert _call(_event("$default", "conn", json.dumps({"action": "ping"})))["statusCode"] == 410


def test_operators_may_watch_any_device(api: Api, sockets: FakeConnections) -> None:
    create_admin()
    admin = json.loads(
        api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}).body
    )["data"]["accessToken"]
    device = create_device(api, register_user(api, "ws-host@example.com")["accessToken"])
    _call(_event("$connect", "adm", token=admin))
    _send("adm", {"action": "subscribe", "topics": [f"devices/{device['id']}/status"]})
    assert sockets.to("adm")[-1]["data"]["topics"] == [f"devices/{device['id']}/status"]


def test_acknowledge_alert_is_validated_and_answered(api: Api, sockets: FakeConnections) -> None:
    token = register_user(api, "ws-ack@example.com")["accessToken"]
    _call(_event("$connect", "ack", token=token))
    _send("ack", {"action": "acknowledgeAlert"})
    assert sockets.to("ack")[-1]["data"]["field"] == "alertId"
    _send("ack", {"action": "acknowledgeAlert", "alertId": "a1", "note": 5})
    assert sockets.to("ack")[-1]["data"]["field"] == "note"
    _send("ack", {"action": "acknowledgeAlert", "alertId": "a1", "note": "on my way"})
    answer = sockets.to("ack")[-1]
    try:
        import gridshare.alerts.service  # noqa: F401
    except ModuleNotFoundError:
        assert answer["type"] == "error" and answer["data"]["detail"] == "Acknowledging alerts is not available."
    else:
        assert answer["type"] in ("error", "alert.acknowledged")  # the alerts service's own answer (no such alert)
