"""Market pushes against moto: clearing and cancelling put TradeExecuted / OrderUpdated on the default bus,
the notifications-live rule (kernel.resources.EVENT_RULES, provisioned as the local stack does) routes them to
its queue, and the live consumer pushes each to the `market` subscribers of the parties only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.kernel import clock
from gridshare.kernel.aws import client
from gridshare.market.rules import interval_iso
from gridshare.notifications import entries
from gridshare.notifications.connections import ConnectionStore, Pusher
from gridshare.notifications.live import LivePush
from gridshare_local.lambda_runtime import LambdaContext
from tests.integration.market.test_market_api import MINUTE, _data, _market
from tests.support.notifications import FakeConnections
from tests.support.wallets import Money


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    """Now, a little ahead of real time (as in test_market_api)."""
    with clock.frozen(clock.now_ms() + 150_000) as moved:
        yield moved


def _drain(aws: dict[str, str]) -> list[dict[str, Any]]:
    """Every message on the notifications-live queue (what the live consumer would get), removed."""
    url = json.loads(aws["queue_urls"])["notifications-live"]
    sqs, found = client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _batch(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notifications-live",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def _events(messages: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    bodies = [json.loads(m["Body"]) for m in messages]
    return [(b["source"], b["detail-type"], b["detail"]) for b in bodies]


def test_clearing_and_cancelling_are_pushed_to_the_parties_market_subscribers(
    money: Money, frozen: clock.FrozenClock, aws: dict[str, str]
) -> None:
    m = _market(money, frozen)  # dan cancelled one of his bids
    interval, (ann, bob, cid, dan) = m["interval"], m["people"]
    (cancelled,) = _events(_drain(aws))
    assert cancelled[:2] == ("gridshare.market", "OrderUpdated")
    assert cancelled[2]["ownerId"] == dan.user_id and cancelled[2]["order"]["status"] == "cancelled"
    assert cancelled[2]["order"]["releasedMinor"] == cancelled[2]["order"]["reservedMinor"] > 0

    frozen.set(interval - 5 * MINUTE)
    path = f"/v1/market/intervals/{interval_iso(interval)}/clear"
    assert money.call("POST", path, money.admin).status_code == 200
    messages = _drain(aws)
    events = _events(messages)
    trades = [d for s, t, d in events if (s, t) == ("gridshare.market", "TradeExecuted")]
    orders = [d for s, t, d in events if (s, t) == ("gridshare.market", "OrderUpdated")]
    assert len(events) == len(trades) + len(orders)
    # one TradeExecuted per trade, as GET /v1/market/trades shows it, naming both parties
    listed = _data(money.call("GET", f"/v1/market/trades?interval={interval_iso(interval)}", money.admin))
    assert sorted((t["trade"] for t in trades), key=lambda t: t["id"]) == sorted(listed, key=lambda t: t["id"])
    assert sorted((t["buyerId"], t["sellerId"]) for t in trades) == sorted(
        [(cid.user_id, ann.user_id), (cid.user_id, bob.user_id)]
    )
    # one OrderUpdated per order the clearing settled (the cancelled one is not touched), as GET shows it
    assert len(orders) == 4
    for detail in orders:
        owner = next(p for p in (ann, bob, cid, dan) if p.user_id == detail["ownerId"])
        shown = _data(money.call("GET", f"/v1/market/orders/{detail['order']['id']}", owner))
        assert detail["order"] == shown
    # a re-run changes nothing and announces nothing
    assert money.call("POST", path, money.admin).status_code == 200
    assert _drain(aws) == []

    # the live consumer: each party's `market` subscribers get their own, nobody else anything
    store, sockets = ConnectionStore(), FakeConnections()
    for conn, who in (("ann", ann), ("bob", bob), ("cid", cid), ("dan", dan)):
        store.open(conn, who.user_id, "prosumer", ())
        store.subscribe(conn, who.user_id, f"market@{who.user_id}", "market")
    store.open("ann-commands", ann.user_id, "prosumer", ())
    store.subscribe("ann-commands", ann.user_id, f"commands@{ann.user_id}", "commands")
    with entries.live_push.override(LivePush(Pusher(store, api=sockets))):
        result = entries.live_events_handler(_batch(messages), LambdaContext("notifications-live"))
    assert result == {"batchItemFailures": []}

    def kinds(conn: str) -> list[str]:
        return sorted(message["type"] for message in sockets.to(conn))

    assert kinds("cid") == ["order.updated", "trade.executed", "trade.executed"]
    assert kinds("ann") == kinds("bob") == ["order.updated", "trade.executed"]
    assert kinds("dan") == ["order.updated"]  # expired, no trade
    assert sockets.to("ann-commands") == []
    for conn, who in (("ann", ann), ("cid", cid), ("dan", dan)):
        for message in sockets.to(conn):
            assert set(message) == {"type", "data", "ts"}
            if message["type"] == "order.updated":
                assert message["data"]["order"]["userId"] == who.user_id
            else:
                trade = message["data"]["trade"]
                assert who.user_id in {d["buyerId"] for d in trades if d["trade"]["id"] == trade["id"]} | {
                    d["sellerId"] for d in trades if d["trade"]["id"] == trade["id"]
                }
    (dans,) = sockets.to("dan")
    assert dans["data"]["order"]["status"] == "expired"


def test_the_schedule_announces_what_it_clears_once(
    money: Money, frozen: clock.FrozenClock, aws: dict[str, str]
) -> None:
    from functions.market.clearing import handler as clearing

    m = _market(money, frozen)
    _drain(aws)
    frozen.set(m["interval"] - 5 * MINUTE + 1)
    assert interval_iso(m["interval"]) in clearing({}, LambdaContext("market-clearing"))["cleared"]
    kinds = sorted(t for _, t, _ in _events(_drain(aws)))
    assert kinds == ["OrderUpdated"] * 4 + ["TradeExecuted"] * 2
    assert clearing({}, LambdaContext("market-clearing"))["cleared"] == []
    assert _drain(aws) == []
