"""Settlement notices against moto: SettlementCompleted / SettlementFailed on the default bus reach
`notifications-settlement` (kernel.resources.EVENT_RULES); the notifier writes each party's (or admin's) inbox entry
and queues email and WebSocket deliveries by their preferences; the delivery worker sends each once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from gridshare.identity.cognito import CognitoAdmin
from gridshare.notifications import entries
from gridshare.notifications.connections import ConnectionStore, Pusher
from gridshare.notifications.notifier import DeliveryWorker
from gridshare.settlement.events import EventBridgeSettlementEvents
from gridshare_local.lambda_runtime import LambdaContext
from tests.support.api import Api, register_user
from tests.support.notifications import FakeConnections, drain_queue, envelope, settlement_completed, sqs_batch

CONTEXT = LambdaContext("notifications-settlement")
QUIET_ALL_DAY = {"start": "00:00", "end": "23:59", "timezone": "Pacific/Auckland"}


def _emails(to: str) -> list[Any]:
    """Settlement emails to `to` (not the sign-up's verification mail)."""
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    return [
        m
        for m in sent
        if to in [a for v in (m.destinations or {}).values() for a in v] and "Settlement" in (m.subject or "")
    ]


def _user(api: Api, address: str, **prefs: Any) -> tuple[str, str]:
    login = register_user(api, address)
    token = login["accessToken"]
    if prefs:
        body = {"email": True, "sms": False, "push": True, **prefs}
        assert api.call("PUT", "/v1/me/notification-preferences", body, token=token).status_code == 200
    return token, login["user"]["id"]


def _notify(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return entries.settlement_events_handler(sqs_batch(envelope("gridshare.settlement", detail_type, detail)), CONTEXT)


def _inbox(api: Api, token: str) -> list[dict[str, Any]]:
    return list(json.loads(api.call("GET", "/v1/notifications", token=token).body)["data"])


def _deliveries(aws: dict[str, str]) -> list[dict[str, Any]]:
    return drain_queue(aws["queue_urls"], "notification-deliveries")


def test_the_published_events_reach_the_notifier_queue(aws: dict[str, str]) -> None:
    # When the settlement context publishes a completed run (two chunks' worth is one event here) and a failure
    EventBridgeSettlementEvents().completed("stl-a", [1_796_292_000_000], ["u1", "u2"])
    EventBridgeSettlementEvents().failed("stl-b", "States.TaskFailed", "boom")
    # Then both are on notifications-settlement (not on the alerts' queue), as the contract has them
    assert drain_queue(aws["queue_urls"], "notifications-events") == []
    got = {m["detail-type"]: m for m in drain_queue(aws["queue_urls"], "notifications-settlement")}
    assert set(got) == {"SettlementCompleted", "SettlementFailed"}
    assert got["SettlementCompleted"]["source"] == "gridshare.settlement"
    assert got["SettlementCompleted"]["detail"]["parties"] == ["u1", "u2"]
    assert got["SettlementFailed"]["detail"] == {"runId": "stl-b", "error": "States.TaskFailed", "cause": "boom"}


def test_each_party_is_told_once_per_channel_by_their_preferences(api: Api, aws: dict[str, str]) -> None:
    # Given a party with the defaults, one who turned email off, and one with quiet hours all day
    token_a, a = _user(api, "party-a@example.com")
    token_b, b = _user(api, "party-b@example.com", email=False)
    token_c, c = _user(api, "party-c@example.com", quietHours=QUIET_ALL_DAY)
    _, outsider = _user(api, "outsider@example.com")
    store, fake = ConnectionStore(), FakeConnections()
    for connection, user in (("c-a", a), ("c-outsider", outsider)):
        store.open(connection, user, "prosumer", ("prosumer",))
        store.subscribe(connection, user, f"settlement@{user}", "settlement")
    detail = settlement_completed("stl-1", [a, b, c], ["2026-12-03T10:15:00.000Z", "2026-12-03T10:00:00.000Z"])
    # When the same SettlementCompleted arrives twice
    assert _notify("SettlementCompleted", detail) == {"batchItemFailures": []}
    assert _notify("SettlementCompleted", detail) == {"batchItemFailures": []}
    deliveries = _deliveries(aws)
    # Then email goes only where the preferences allow it (a settlement is "info": quiet hours hold it)
    assert sorted((d["recipient"], d["channel"]) for d in deliveries) == sorted(
        [(a, "email"), (a, "websocket"), (b, "websocket"), (c, "websocket")] * 2
    )
    with entries.delivery_worker.override(DeliveryWorker(pusher=Pusher(store, api=fake))):
        assert entries.deliveries_handler(sqs_batch(*deliveries), CONTEXT) == {"batchItemFailures": []}
        assert entries.deliveries_handler(sqs_batch(*deliveries), CONTEXT) == {"batchItemFailures": []}
    # And each is sent once, whatever the redeliveries
    (email,) = _emails("party-a@example.com")
    assert "stl-1" in email.body and "/v1/statements?date=" in email.body
    assert _emails("party-b@example.com") == [] and _emails("party-c@example.com") == []
    (message,) = fake.to("c-a")
    assert message["type"] == "settlement.completed"
    assert message["data"]["runId"] == "stl-1"
    assert message["data"]["intervals"] == ["2026-12-03T10:00:00.000Z", "2026-12-03T10:15:00.000Z"]
    assert fake.to("c-outsider") == []
    # And every party has one inbox entry, the outsider none
    for token in (token_a, token_b, token_c):
        (entry,) = _inbox(api, token)
        assert entry["type"] == "settlement.completed" and entry["runId"] == "stl-1" and entry["alertId"] is None
        assert entry["severity"] == "info" and not entry["read"]
    # And another run is a new notice
    _notify("SettlementCompleted", settlement_completed("stl-2", [a]))
    with entries.delivery_worker.override(DeliveryWorker(pusher=Pusher(store, api=fake))):
        entries.deliveries_handler(sqs_batch(*_deliveries(aws)), CONTEXT)
    assert len(_emails("party-a@example.com")) == 2 and len(_inbox(api, token_a)) == 2


def test_a_failed_run_alerts_every_admin_and_nobody_else(api: Api, aws: dict[str, str]) -> None:
    # Given two admins (one with quiet hours all day) and a prosumer
    admins = [
        _user(api, "admin0@example.com"),
        _user(api, "admin1@example.com", quietHours=QUIET_ALL_DAY),
    ]
    for _, user_id in admins:
        CognitoAdmin().change_group(user_id, "prosumer", "admin")
    host_token, _ = _user(api, "host@example.com")
    # When a run fails (twice delivered)
    detail = {"runId": "stl-9", "error": "States.TaskFailed", "cause": "SettleShard: throttled"}
    _notify("SettlementFailed", detail)
    _notify("SettlementFailed", detail)
    deliveries = _deliveries(aws)
    assert {d["recipient"] for d in deliveries} == {user_id for _, user_id in admins}
    entries.deliveries_handler(sqs_batch(*deliveries), CONTEXT)
    # Then each admin has one email (critical: quiet hours do not hold it) and one inbox entry naming the failure
    for i, (token, _) in enumerate(admins):
        (email,) = _emails(f"admin{i}@example.com")
        assert "States.TaskFailed" in email.subject and "SettleShard: throttled" in email.body and "stl-9" in email.body
        (entry,) = _inbox(api, token)
        assert entry["type"] == "settlement.failed" and entry["runId"] == "stl-9" and entry["severity"] == "critical"
    assert _emails("host@example.com") == [] and _inbox(api, host_token) == []


def test_a_run_that_settled_no_interval_tells_nobody(api: Api, aws: dict[str, str]) -> None:
    token, user = _user(api, "idle@example.com")
    assert _notify("SettlementCompleted", settlement_completed("stl-0", [user], [])) == {"batchItemFailures": []}
    assert _deliveries(aws) == [] and _inbox(api, token) == []


@pytest.mark.parametrize(
    ("detail_type", "detail"),
    [
        ("SettlementCompleted", {"runId": "r", "parties": ["u"]}),
        ("SettlementCompleted", settlement_completed("", ["u"])),
        ("SettlementFailed", {"error": "E", "cause": "C"}),
        ("AlertOpened", settlement_completed("r", ["u"])),
    ],
)
def test_an_event_off_the_contract_is_dropped_not_retried(
    aws: dict[str, str], detail_type: str, detail: dict[str, Any]
) -> None:
    assert _notify(detail_type, detail) == {"batchItemFailures": []}
    assert _deliveries(aws) == []
