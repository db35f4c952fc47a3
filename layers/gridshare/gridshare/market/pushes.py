"""Publishing trades and order changes as domain events (EventBridge: `gridshare.market` / `TradeExecuted` and
`OrderUpdated`, docs/events.md), for the WebSocket topic `market` (gridshare.notifications).

The trade or order is stored first, then announced: a clearing run announces its trades and the orders it
settled once the interval's record is marked cleared (so only the run that finishes a clearing announces it,
and a re-run, which changes nothing, announces nothing); a cancel announces the order it moved to `cancelled`.
A failed publish is logged and not retried: the tables are the record (`GET /v1/market/trades`,
`GET /v1/market/orders/{id}`); pushes are at most once anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.settings import get_settings
from gridshare.market.models import OrderModel, TradeModel
from gridshare.market.views import order_view, trade_view

__all__ = [
    "EventBridgeMarketEvents",
    "MarketEvents",
    "SOURCE",
    "announce",
    "market_events",
    "order_event",
    "trade_event",
]

logger = logging.getLogger("gridshare.market.pushes")
SOURCE, TRADE_EXECUTED, ORDER_UPDATED = "gridshare.market", "TradeExecuted", "OrderUpdated"
MAX_ENTRIES_PER_CALL = 10  # PutEvents takes at most 10 entries


class MarketEvents(Protocol):
    def publish(self, events: list[dict[str, Any]]) -> None: ...


def trade_event(trade: TradeModel) -> dict[str, Any]:
    return {
        "Source": SOURCE,
        "DetailType": TRADE_EXECUTED,
        "Detail": {"trade": trade_view(trade), "buyerId": trade.buyer_id, "sellerId": trade.seller_id},
    }


def order_event(order: OrderModel) -> dict[str, Any]:
    detail = {"order": order_view(order), "ownerId": order.user_id}
    return {"Source": SOURCE, "DetailType": ORDER_UPDATED, "Detail": detail}


def announce(publisher: MarketEvents, trades: Iterable[TradeModel], orders: Iterable[OrderModel]) -> None:
    """Announce trades, then orders; never raises (a publisher's failure is logged, the work stands)."""
    events = [trade_event(t) for t in trades] + [order_event(o) for o in orders]
    if not events:
        return
    try:
        publisher.publish(events)
    except Exception as exc:  # noqa: BLE001 - announcing never fails the clearing or the cancel
        logger.error("market events not published", extra={"count": len(events), "error": str(exc)})


class EventBridgeMarketEvents:
    def __init__(self) -> None:
        self._client: Any = None

    def publish(self, events: list[dict[str, Any]]) -> None:
        bus = get_settings().event_bus
        entries = [
            {**e, "Detail": json.dumps(e["Detail"], separators=(",", ":"), default=str), "EventBusName": bus}
            for e in events
        ]
        for first in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            chunk = entries[first : first + MAX_ENTRIES_PER_CALL]
            try:
                if self._client is None:
                    from gridshare.kernel.aws import client

                    self._client = client("events")
                result = self._client.put_events(Entries=chunk)
                if result.get("FailedEntryCount"):
                    raise RuntimeError(str(result.get("Entries")))
            except (ClientError, BotoCoreError, RuntimeError) as exc:
                logger.error("market events not published", extra={"count": len(chunk), "error": str(exc)})


market_events: ServiceFactory[MarketEvents] = ServiceFactory(EventBridgeMarketEvents)
"""The publisher the market's use cases announce with (tests: ``market_events.override(Recording())``)."""
