"""The notifier and the delivery worker fed with SQS events built from the contract (docs/events.md), against
moto: channels by preference, dedup, a failing channel that blocks no other, the operators audience."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from gridshare.identity.cognito import CognitoAdmin
from gridshare.kernel.aws import client
from gridshare.notifications import entries
from gridshare.notifications.channels import AwsSender, ChannelFailed
from gridshare.notifications.connections import ConnectionStore, Pusher
from gridshare.notifications.notifier import DeliveryWorker
from gridshare_local.lambda_runtime import LambdaContext
from tests.support.api import Api, register_user
from tests.support.notifications import FakeConnections, alert, alert_detail, envelope, sqs_batch

CONTEXT = LambdaContext("notifications-notifier")


def _emails(to: str) -> list[Any]:
    """Alert emails to `to` (not the sign-up's verification mail)."""
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    return [
        m
        for m in sent
        if to in [a for v in (m.destinations or {}).values() for a in v] and "Gas leak" in (m.subject or "")
    ]


def _sms(phone: str) -> list[str]:
    return [
        text for number, text in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values() if number == phone
    ]


def _pushes() -> list[str]:
    endpoints = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints.values()
    return [m for e in endpoints for m in e.messages.values()]


def _deliveries(aws: dict[str, str]) -> list[dict[str, Any]]:
    """Drain the deliveries queue the notifier fanned out to (bodies)."""
    url = json.loads(aws["queue_urls"])["notification-deliveries"]
    found: list[dict[str, Any]] = []
    while True:
        got = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        for message in got:
            found.append(json.loads(message["Body"]))
            client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _notify(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return entries.alert_events_handler(sqs_batch(envelope("gridshare.alerts", detail_type, detail)), CONTEXT)


def _deliver(deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    return entries.deliveries_handler(sqs_batch(*deliveries), CONTEXT)


def _user(api: Api, email: str, **prefs: Any) -> tuple[str, str]:
    login = register_user(api, email)
    token = login["accessToken"]
    if prefs:
        body = {"email": True, "sms": False, "push": True, **prefs}
        assert api.call("PUT", "/v1/me/notification-preferences", body, token=token).status_code == 200
    return token, login["user"]["id"]


def test_an_alert_is_delivered_once_per_channel_whatever_the_redeliveries(api: Api, aws: dict[str, str]) -> None:
    # Given a user with a phone and a push token
    token, user = _user(api, "owner@example.com", sms=True, phone="+4915100000001")
    api.call("POST", "/v1/me/push-tokens", {"platform": "apns", "token": "apns-token-0001"}, token=token)
    detail = alert_detail(user)
    # When the same AlertOpened arrives twice (EventBridge and SQS are at least once)
    assert _notify("AlertOpened", detail) == {"batchItemFailures": []}
    assert _notify("AlertOpened", detail) == {"batchItemFailures": []}
    deliveries = _deliveries(aws)
    # Then each channel was queued per arrival, but each is sent once, even delivered twice over
    assert sorted(d["channel"] for d in deliveries) == sorted(["email", "sms", "push", "websocket"] * 2)
    fake = FakeConnections()
    with entries.delivery_worker.override(DeliveryWorker(pusher=Pusher(api=fake))):
        assert _deliver(deliveries) == {"batchItemFailures": []}
        assert _deliver(deliveries) == {"batchItemFailures": []}
    assert len(_emails("owner@example.com")) == 1
    assert len(_sms("+4915100000001")) == 1 and "Gas leak" in _sms("+4915100000001")[0]
    assert len(_pushes()) == 1
    # And the inbox has one entry
    assert len(json.loads(api.call("GET", "/v1/notifications", token=token).body)["data"]) == 1
    # And a later occurrence of the same alert is a new delivery
    _notify("AlertReminder", alert_detail(user, detail["alert"], channels=("email",), occurrence="reminder-1"))
    with entries.delivery_worker.override(DeliveryWorker(pusher=Pusher(api=fake))):
        _deliver(_deliveries(aws))
    assert len(_emails("owner@example.com")) == 2


class SmsDown(AwsSender):
    def sms(self, phone: str, text: str) -> None:
        raise ChannelFailed("SNS throttled")


def test_a_failing_channel_is_retried_alone_and_blocks_no_other(api: Api, aws: dict[str, str]) -> None:
    _, user = _user(api, "retry@example.com", sms=True, phone="+4915100000002")
    _notify("AlertOpened", alert_detail(user, channels=("email", "sms")))
    deliveries = _deliveries(aws)
    # When SMS fails
    with entries.delivery_worker.override(DeliveryWorker(sender=SmsDown())):
        event = sqs_batch(*deliveries)
        failed = entries.deliveries_handler(event, CONTEXT)["batchItemFailures"]
    # Then only the SMS message fails (SQS retries it, then its DLQ), and the email went out
    sms_message = next(
        r["messageId"] for r, d in zip(event["Records"], deliveries, strict=True) if d["channel"] == "sms"
    )
    assert failed == [{"itemIdentifier": sms_message}]
    assert len(_emails("retry@example.com")) == 1 and _sms("+4915100000002") == []
    # When SMS works again, the retry sends it, and the email is not sent again
    _deliver(deliveries)
    assert len(_sms("+4915100000002")) == 1 and len(_emails("retry@example.com")) == 1


def test_preferences_and_quiet_hours_decide_the_channels(api: Api, aws: dict[str, str]) -> None:
    quiet_all_day = {"start": "00:00", "end": "23:59", "timezone": "Pacific/Auckland"}
    _, user = _user(api, "quiet@example.com", sms=True, phone="+4915100000003", push=False, quietHours=quiet_all_day)
    _notify("AlertOpened", alert_detail(user, alert(severity="warning"), occurrence="opened"))
    assert [d["channel"] for d in _deliveries(aws)] == ["websocket"]  # the warning: held from email and SMS
    _notify("AlertOpened", alert_detail(user, alert(severity="critical")))
    assert sorted(d["channel"] for d in _deliveries(aws)) == ["email", "sms", "websocket"]  # critical: no push (off)


def test_operators_audience_reaches_every_operator(api: Api, aws: dict[str, str]) -> None:
    _, owner = _user(api, "host@example.com")
    operators = [_user(api, f"op{i}@example.com")[1] for i in range(2)]
    for user_id in operators:
        CognitoAdmin().change_group(user_id, "prosumer", "operator")
    _notify("AlertEscalated", alert_detail(owner, channels=("email",), occurrence="escalated", audience="operators"))
    deliveries = _deliveries(aws)
    assert sorted(d["recipient"] for d in deliveries) == sorted(operators)
    _deliver(deliveries)
    assert len(_emails("op0@example.com")) == 1 and len(_emails("op1@example.com")) == 1
    assert _emails("host@example.com") == []


def test_the_websocket_channel_pushes_to_the_recipients_alert_subscribers(api: Api, aws: dict[str, str]) -> None:
    _, user = _user(api, "ws@example.com")
    _, other = _user(api, "ws-other@example.com")
    store, fake = ConnectionStore(), FakeConnections()
    for connection, owner in (("c-mine", user), ("c-gone", user), ("c-theirs", other)):
        store.open(connection, owner, "prosumer", ("prosumer",))
        store.subscribe(connection, owner, f"alerts@{owner}", "alerts")
    fake.gone.add("c-gone")
    _notify("AlertUpdated", alert_detail(user, channels=("websocket",), occurrence="updated-2"))
    with entries.delivery_worker.override(DeliveryWorker(pusher=Pusher(store, api=fake))):
        assert _deliver(_deliveries(aws)) == {"batchItemFailures": []}
    (message,) = fake.to("c-mine")
    assert message["type"] == "alert.updated" and message["data"]["title"] == "Gas leak" and message["ts"]
    assert fake.to("c-theirs") == []
    # The gone connection was cleaned up, with its subscriptions
    assert store.get("c-gone") is None and store.subscriptions("c-gone") == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps(envelope("gridshare.alerts", "AlertOpened", {"ownerId": "u"})),
        json.dumps(envelope("gridshare.alerts", "AlertOpened", alert_detail("u", audience="everyone"))),
        json.dumps(envelope("gridshare.alerts", "AlertDeleted", alert_detail("u"))),
    ],
)
def test_an_event_off_the_contract_is_dropped_not_retried(aws: dict[str, str], body: str) -> None:
    assert entries.alert_events_handler(sqs_batch(body), CONTEXT) == {"batchItemFailures": []}
    assert _deliveries(aws) == []
