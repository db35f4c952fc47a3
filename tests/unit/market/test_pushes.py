"""Announcing trades and orders (gridshare.market.pushes): the event shapes, PutEvents in batches of at most
10 on the configured bus, and a failed publish that is logged and never raised."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gridshare.market import pushes
from gridshare.market.models import OrderModel, TradeModel
from gridshare.market.rules import parse_interval
from gridshare.market.views import order_view, trade_view

T0 = parse_interval("2026-12-02T10:15:00Z")


def _trade(n: int) -> TradeModel:
    return TradeModel(
        id=f"t{n:03d}",
        interval_start=T0,
        buy_order_id=f"b{n}",
        sell_order_id=f"a{n}",
        buyer_id="buyer",
        seller_id="seller",
        energy_wh=100 + n,
        price=20,
        grid_fee=2,
        currency="EUR",
        created_at=T0,
    )


def _order(status: str = "filled") -> OrderModel:
    return OrderModel(
        id="o1",
        user_id="owner",
        side="BID",
        interval_start=T0,
        energy_wh=500,
        limit_price=30,
        currency="EUR",
        status=status,
        filled_wh=500,
        reserved_minor=100,
        released_minor=0,
        created_at=T0 - 60_000,
        updated_at=T0,
    )


@dataclass
class FakeEvents:
    fail: bool = False
    calls: list[list[dict[str, Any]]] = field(default_factory=list)

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(Entries)
        if self.fail:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutEvents")
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e"} for _ in Entries]}


def test_events_carry_the_public_json_and_the_parties() -> None:
    trade, order = _trade(1), _order()
    assert pushes.trade_event(trade) == {
        "Source": "gridshare.market",
        "DetailType": "TradeExecuted",
        "Detail": {"trade": trade_view(trade), "buyerId": "buyer", "sellerId": "seller"},
    }
    assert pushes.order_event(order) == {
        "Source": "gridshare.market",
        "DetailType": "OrderUpdated",
        "Detail": {"order": order_view(order), "ownerId": "owner"},
    }


def test_put_events_is_called_with_at_most_ten_entries_each_on_the_bus() -> None:
    publisher, fake = pushes.EventBridgeMarketEvents(), FakeEvents()
    publisher._client = fake
    pushes.announce(publisher, [_trade(n) for n in range(23)], [_order()])
    assert [len(c) for c in fake.calls] == [10, 10, 4]
    entries = [e for c in fake.calls for e in c]
    assert [e["DetailType"] for e in entries] == ["TradeExecuted"] * 23 + ["OrderUpdated"]
    assert {e["EventBusName"] for e in entries} == {"default"}
    assert json.loads(entries[0]["Detail"])["trade"]["id"] == "t000"


def test_nothing_to_announce_calls_nothing() -> None:
    publisher, fake = pushes.EventBridgeMarketEvents(), FakeEvents()
    publisher._client = fake
    pushes.announce(publisher, [], [])
    assert fake.calls == []


def test_a_failed_publish_is_logged_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    publisher, fake = pushes.EventBridgeMarketEvents(), FakeEvents(fail=True)
    publisher._client = fake
    with caplog.at_level(logging.ERROR, logger="gridshare.market.pushes"):
        pushes.announce(publisher, [_trade(n) for n in range(12)], [])
    assert [len(c) for c in fake.calls] == [10, 2]  # each batch is tried
    assert sum("not published" in r.message for r in caplog.records) == 2

    class Broken:
        def publish(self, events: list[dict[str, Any]]) -> None:
            raise RuntimeError("boom")

    pushes.announce(Broken(), [_trade(1)], [])  # a publisher's bug is logged too
