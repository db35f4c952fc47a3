"""How orders and trades look at the edge: the public JSON of `GET /v1/market/orders/{id}` and of
`GET /v1/market/trades`, and the events that announce them (gridshare.market.pushes)."""

from __future__ import annotations

from typing import Any

from gridshare.kernel.clock import to_iso
from gridshare.market.models import OrderModel, TradeModel
from gridshare.market.rules import interval_iso

__all__ = ["order_view", "trade_view"]


def order_view(order: OrderModel) -> dict[str, Any]:
    return {
        "id": order.id,
        "userId": order.user_id,
        "side": order.side,
        "interval": interval_iso(int(order.interval_start)),
        "energyWh": int(order.energy_wh),
        "limitPriceMinorPerKwh": int(order.limit_price),
        "currency": order.currency,
        "siteId": order.site_id,
        "communityId": order.community_id,
        "status": order.status,
        "filledEnergyWh": int(order.filled_wh),
        "reservedMinor": int(order.reserved_minor),
        "releasedMinor": int(order.released_minor),
        "createdAt": to_iso(int(order.created_at)),
        "updatedAt": to_iso(int(order.updated_at)),
    }


def trade_view(trade: TradeModel) -> dict[str, Any]:
    return {
        "id": trade.id,
        "interval": interval_iso(int(trade.interval_start)),
        "buyOrderId": trade.buy_order_id,
        "sellOrderId": trade.sell_order_id,
        "energyWh": int(trade.energy_wh),
        "priceMinorPerKwh": int(trade.price),
        "gridFeeMinorPerKwh": int(trade.grid_fee),
        "currency": trade.currency,
    }
