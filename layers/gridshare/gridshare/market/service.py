"""The market: orders per delivery interval, clearing at gate closure, trades, market data (docs/market.md).

The use cases live in one module each, with the rules they keep in its docstring:

- :mod:`~gridshare.market.orders`: placing (a BID's reservation in escrow), cancelling, reading orders;
- :mod:`~gridshare.market.clearing_run`: clearing an interval idempotently, and the sweep of due ones;
- :mod:`~gridshare.market.market_data`: the book, trades, statistics, a user's dashboard.

The auction itself is pure: :mod:`gridshare.market.clearing`; the interval and gate rules:
:mod:`gridshare.market.rules`. :class:`MarketService` builds every group with the same collaborators;
routes reach it through ``market_service()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gridshare.kernel.clock import now_ms
from gridshare.kernel.factory import ServiceFactory
from gridshare.market.pushes import MarketEvents, market_events
from gridshare.market.rules import parse_interval
from gridshare.market.store import MarketStore
from gridshare.market.use_cases import communities_service, configured_market, sites_service, wallet_service

if TYPE_CHECKING:
    from gridshare.communities.service import CommunitiesService
    from gridshare.market.clearing_run import Clearing
    from gridshare.market.config import MarketConfig
    from gridshare.market.market_data import MarketData
    from gridshare.market.orders import Orders
    from gridshare.sites.service import SitesService
    from gridshare.wallets.service import WalletService

__all__ = ["MarketService", "market_service", "parse_interval"]


@dataclass
class MarketService:
    store: MarketStore = field(default_factory=MarketStore)
    clock: Callable[[], int] = now_ms
    config: Callable[[], MarketConfig] = configured_market
    wallets: Callable[[], WalletService] = wallet_service
    sites: Callable[[], SitesService] = sites_service
    communities: Callable[[], CommunitiesService] = communities_service
    events: Callable[[], MarketEvents] = market_events

    # Each group is built on first use: settlement reads trades through this service without the order
    # use cases, the market data or the fee rules.
    @cached_property
    def orders(self) -> Orders:
        from gridshare.market.orders import Orders

        return Orders(*self._parts())

    @cached_property
    def data(self) -> MarketData:
        from gridshare.market.market_data import MarketData

        return MarketData(*self._parts())

    def _parts(self) -> tuple[Any, ...]:
        return (self.store, self.clock, self.config, self.wallets, self.sites, self.communities, self.events)

    @cached_property
    def clearing(self) -> Clearing:
        """Built on first use: the auction (numpy, gridshare.market.clearing) is imported by what clears
        or reads a clearing, not by the first answer of every other route."""
        from gridshare.market.clearing_run import Clearing

        return Clearing(*self._parts())

    # ------------------------------------------------------------ for the settlement context
    def trades_for_settlement(self, interval: int, trade_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The interval's trades as settlement reads them: the trade (``id, interval, buyOrderId,
        sellOrderId, energyWh, priceMinorPerKwh, gridFeeMinorPerKwh, currency``), its parties and the sites
        of its two orders (``buyerSiteId`` None when the BID named no site). ``trade_ids``: only those
        trades of the interval (batched reads by id: what one settlement shard reads), not all of them."""
        if trade_ids is None:
            trades = self.store.trades_of_interval(interval)
        else:
            trades = [t for t in self.store.trades_by_ids(trade_ids) if int(t.interval_start) == interval]
        orders = self.store.orders_by_ids({t.buy_order_id for t in trades} | {t.sell_order_id for t in trades})

        def site_of(order_id: str) -> str | None:
            order = orders.get(order_id)
            return order.site_id if order is not None else None

        return [
            {
                "id": t.id,
                "interval": int(t.interval_start),
                "buyOrderId": t.buy_order_id,
                "sellOrderId": t.sell_order_id,
                "energyWh": int(t.energy_wh),
                "priceMinorPerKwh": int(t.price),
                "gridFeeMinorPerKwh": int(t.grid_fee),
                "currency": t.currency,
                "buyerId": t.buyer_id,
                "sellerId": t.seller_id,
                "buyerSiteId": site_of(t.buy_order_id),
                "sellerSiteId": site_of(t.sell_order_id),
            }
            for t in sorted(trades, key=lambda t: t.id)
        ]

    def mark_settled(self, intervals: Iterable[int]) -> int:
        """Mark cleared intervals ``settled`` (their trades have been settled); how many moved."""
        moved = 0
        for record in self.store.intervals(sorted(set(intervals))).values():
            if record.status == "cleared":
                record.status = "settled"
                record.save()
                moved += 1
        return moved


market_service = ServiceFactory(MarketService)
