"""The market's response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridshare.http.responses import ResponseModel, Timestamp

Side = Literal["BID", "ASK"]
OrderStatus = Literal["open", "filled", "partially_filled", "cancelled", "expired"]
IntervalStatus = Literal["open", "closed", "cleared", "settled"]
IntervalName = str


class Order(ResponseModel):
    id: str
    user_id: str
    side: Side
    interval: IntervalName = Field(description="the delivery interval's start, ISO 8601 UTC")
    energy_wh: int = Field(gt=0)
    limit_price_minor_per_kwh: int = Field(gt=0)
    currency: str
    site_id: str | None
    community_id: str | None = Field(description="a community-only order: matched inside its community first")
    status: OrderStatus
    filled_energy_wh: int = Field(ge=0, description="written when the interval clears")
    reserved_minor: int = Field(ge=0, description="BID: the worst-case cost held in escrow")
    released_minor: int = Field(ge=0, description="BID: what went back to the wallet (cancelled or unfilled)")
    created_at: Timestamp
    updated_at: Timestamp


class Trade(ResponseModel):
    id: str
    interval: IntervalName
    buy_order_id: str
    sell_order_id: str
    energy_wh: int = Field(gt=0)
    price_minor_per_kwh: int = Field(ge=0, description="paid to the seller")
    grid_fee_minor_per_kwh: int = Field(ge=0, description="added to the buyer's price, kept by the grid")
    currency: str


class Interval(ResponseModel):
    interval: IntervalName
    status: IntervalStatus
    gate_closure: Timestamp
    mechanism: str | None = Field(description="of the clearing run; null before clearing started")
    clearing_price: int | None = Field(description="pay_as_clear: the uniform price; null without trades")
    cleared_energy_wh: int = Field(ge=0)
    trade_count: int = Field(ge=0)
    cleared_at: Timestamp | None


class Level(ResponseModel):
    price_minor_per_kwh: int
    energy_wh: int
    orders: int


class Book(ResponseModel):
    interval: IntervalName
    status: IntervalStatus
    bids: list[Level] = Field(description="open BIDs per price level, highest first")
    asks: list[Level] = Field(description="open ASKs per price level, lowest first")


class IntervalStats(ResponseModel):
    interval: IntervalName
    volume_wh: int
    trade_count: int
    vwap_minor_per_kwh: int | None
    clearing_price: int | None
    participants: int
    price_min_minor_per_kwh: int | None
    price_max_minor_per_kwh: int | None
    turnover_minor: int


class StatsTotals(ResponseModel):
    volume_wh: int
    trade_count: int
    turnover_minor: int


class Stats(ResponseModel):
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    currency: str
    intervals: list[IntervalStats] = Field(description="cleared intervals in [from, to)")
    totals: StatsTotals


class DashboardStats(ResponseModel):
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    currency: str
    energy_sold_wh: int
    energy_bought_wh: int
    earnings_minor: int = Field(description="what buyers paid for the energy sold")
    spent_minor: int = Field(description="what the energy bought cost: price and grid fee")
    grid_fees_minor: int
    sales: int
    purchases: int
    open_orders: int
    open_bids: int
    open_asks: int
    reserved_minor: int = Field(description="what the user's escrow holds now for BIDs")
