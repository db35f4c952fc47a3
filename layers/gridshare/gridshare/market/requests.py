"""The market context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the market api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, StrictInt

from gridshare.http.models import ApiModel, QueryModel, RangeQuery, from_param, to_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gridshare.market.market_data import DASHBOARD_DAYS, DASHBOARD_MAX_DAYS, STATS_MAX_DAYS, TRADES_MAX_DAYS
from gridshare.market.responses import OrderStatus, Side
from gridshare.market.rules import ENERGY_MAX_WH, PRICE_MAX_MINOR_PER_KWH

INTERVAL_HELP = "the delivery interval's start, ISO 8601 with an offset, on a 15-minute boundary"


class OrderBody(ApiModel):
    side: Side
    interval: str = Field(min_length=1, max_length=40, description=INTERVAL_HELP, examples=["2026-12-02T10:15:00Z"])
    energy_wh: StrictInt = Field(gt=0, le=ENERGY_MAX_WH, description="ASK: at most the site's capacityKw x 250 Wh")
    limit_price_minor_per_kwh: StrictInt = Field(
        gt=0, le=PRICE_MAX_MINOR_PER_KWH, description="BID: the most paid per kWh; ASK: the least accepted"
    )
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="the wallets' currency (the default when left out)"
    )
    site_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="ASK: the seller's site; BID: optional consumption site"
    )
    community_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="a community-only order (the caller must be a member)"
    )


class OrdersQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
    status: OrderStatus | None = None
    interval: str | None = Field(default=None, max_length=40, description=INTERVAL_HELP)


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
