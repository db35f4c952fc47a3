"""What every market use-case group shares: its collaborators, and how orders and trades look at the edge.

Other contexts are reached through their services only: wallets (a BID's reservation in escrow and its
release), sites (an ASK's site: its owner and capacity), communities (membership of a community-only
order). The service factories are injected, so tests may pass fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gridshare.communities.service import CommunitiesService, communities_service
from gridshare.kernel.clock import to_iso
from gridshare.market.config import MarketConfig, market_config
from gridshare.market.models import OrderModel, TradeModel
from gridshare.market.rules import interval_iso
from gridshare.market.store import MarketStore
from gridshare.sites.service import SitesService, sites_service
from gridshare.wallets.service import WalletService, wallet_service

__all__ = ["MarketUseCases", "order_view", "trade_view"]


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


@dataclass
class MarketUseCases:
    """A group of market use cases and the collaborators every group is built with (by ``MarketService``)."""

    store: MarketStore
    clock: Callable[[], int]
    config: Callable[[], MarketConfig] = market_config
    wallets: Callable[[], WalletService] = wallet_service
    sites: Callable[[], SitesService] = sites_service
    communities: Callable[[], CommunitiesService] = communities_service
