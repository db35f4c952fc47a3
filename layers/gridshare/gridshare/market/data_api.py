"""Market data routes: an interval's status and result, the order book, trades, statistics, the dashboard.

Any signed-in role reads the market's public figures (book depth names no one; statistics are aggregates);
trades are the caller's own (admins: everyone's); the dashboard is the caller's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ApiBlueprint
from gridshare.http.pagination import page
from gridshare.kernel.roles import ROLE_ORDER, Caller
from gridshare.market.market_data import DASHBOARD_DAYS, STATS_MAX_DAYS
from gridshare.market.service import MarketService, market_service

if TYPE_CHECKING:
    from gridshare.market.requests import BookQuery, DashboardQuery, StatsQuery, TradesQuery

api = ApiBlueprint("market")

READERS: frozenset[str] = frozenset(ROLE_ORDER)


def service() -> MarketService:
    return market_service()


@api.route(
    "/v1/market/intervals/{interval}",
    "GET",
    roles=READERS,
    response="Envelope[Interval]",
    errors=(422,),  # not the start of a 15-minute interval
    summary="A delivery interval: open | closed | cleared | settled, clearing price, cleared energy, trades",
)
def get_interval(caller: Caller, interval: str) -> dict:
    return {"data": service().clearing.view(interval)}


@api.route(
    "/v1/market/book",
    "GET",
    roles=READERS,
    query="BookQuery",
    response="Envelope[Book]",
    summary="The order book of an interval: open orders' energy per side and price level (no identities)",
)
def get_book(caller: Caller, query: BookQuery) -> dict:
    return {"data": service().data.book(query.interval)}


@api.route(
    "/v1/market/trades",
    "GET",
    roles=READERS,
    query="TradesQuery",
    response="Page[Trade]",
    summary="The caller's trades as buyer or seller (admins: every trade), by interval or window",
)
def list_trades(caller: Caller, query: TradesQuery) -> dict:
    items, cursor = service().data.trades(
        caller, query.limit, query.cursor, interval=query.interval, start=query.bounds()[0], end=query.bounds()[1]
    )
    return page(items, query.limit, cursor)


@api.route(
    "/v1/market/stats",
    "GET",
    roles=READERS,
    query="StatsQuery",
    response="Envelope[Stats]",
    summary=f"Per cleared interval in [from, to) (default the day up to the last closed gate, at most "
    f"{STATS_MAX_DAYS} days): "
    "volume, VWAP, participants, price min/max",
)
def market_stats(caller: Caller, query: StatsQuery) -> dict:
    return {"data": service().data.stats(*query.bounds())}


@api.route(
    "/v1/dashboard/stats",
    "GET",
    roles=READERS,
    query="DashboardQuery",
    response="Envelope[DashboardStats]",
    summary=f"The caller's market figures (default {DASHBOARD_DAYS} days up to the order horizon): energy sold and "
    "bought, "
    "earnings, open orders",
)
def dashboard_stats(caller: Caller, query: DashboardQuery) -> dict:
    return {"data": service().data.dashboard(caller, *query.bounds())}
