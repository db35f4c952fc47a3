"""Market data routes: an interval's status and result, the order book, trades, statistics, the dashboard.

Any signed-in role reads the market's public figures (book depth names no one; statistics are aggregates);
trades are the caller's own (admins: everyone's); the dashboard is the caller's.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from gridshare.http.api import ApiBlueprint
from gridshare.http.models import QueryModel, RangeQuery, from_param, to_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.responses import Envelope, Page
from gridshare.kernel.roles import ROLE_ORDER, Caller
from gridshare.market.api import INTERVAL_HELP
from gridshare.market.market_data import DASHBOARD_DAYS, DASHBOARD_MAX_DAYS, STATS_MAX_DAYS, TRADES_MAX_DAYS
from gridshare.market.responses import Book, DashboardStats, Interval, Stats, Trade
from gridshare.market.service import MarketService, market_service

api = ApiBlueprint("market")

READERS: frozenset[str] = frozenset(ROLE_ORDER)


class BookQuery(QueryModel):
    interval: str = Field(min_length=1, max_length=40, description=INTERVAL_HELP)


class TradesQuery(RangeQuery):
    """`interval`, or interval starts in [`from`, `to`) (an open range: either side may be left out)."""

    MAX_SPAN_DAYS: ClassVar[int | None] = TRADES_MAX_DAYS

    from_: str | None = from_param(f"interval starts from; at most {TRADES_MAX_DAYS} days before `to`")
    to: str | None = to_param("interval starts before; default: no bound")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
    interval: str | None = Field(default=None, max_length=40, description=INTERVAL_HELP)


class StatsQuery(RangeQuery):
    MAX_SPAN_DAYS: ClassVar[int | None] = STATS_MAX_DAYS

    from_: str | None = from_param(f"default 1 day before `to`; at most {STATS_MAX_DAYS} days before `to`")
    to: str | None = to_param("default: the end of the last interval whose gate has closed")


class DashboardQuery(RangeQuery):
    MAX_SPAN_DAYS: ClassVar[int | None] = DASHBOARD_MAX_DAYS

    from_: str | None = from_param(
        f"default {DASHBOARD_DAYS} days before `to`; at most {DASHBOARD_MAX_DAYS} days before `to`"
    )
    to: str | None = to_param("default: the order horizon")


def service() -> MarketService:
    return market_service()


@api.route(
    "/v1/market/intervals/{interval}",
    "GET",
    roles=READERS,
    response=Envelope[Interval],
    errors=(422,),  # not the start of a 15-minute interval
    summary="A delivery interval: open | closed | cleared | settled, clearing price, cleared energy, trades",
)
def get_interval(caller: Caller, interval: str) -> dict:
    return {"data": service().clearing.view(interval)}


@api.route(
    "/v1/market/book",
    "GET",
    roles=READERS,
    query=BookQuery,
    response=Envelope[Book],
    summary="The order book of an interval: open orders' energy per side and price level (no identities)",
)
def get_book(caller: Caller, query: BookQuery) -> dict:
    return {"data": service().data.book(query.interval)}


@api.route(
    "/v1/market/trades",
    "GET",
    roles=READERS,
    query=TradesQuery,
    response=Page[Trade],
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
    query=StatsQuery,
    response=Envelope[Stats],
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
    query=DashboardQuery,
    response=Envelope[DashboardStats],
    summary=f"The caller's market figures (default {DASHBOARD_DAYS} days up to the order horizon): energy sold and "
    "bought, "
    "earnings, open orders",
)
def dashboard_stats(caller: Caller, query: DashboardQuery) -> dict:
    return {"data": service().data.dashboard(caller, *query.bounds())}
