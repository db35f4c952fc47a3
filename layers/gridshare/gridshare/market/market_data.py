"""Market data: the order book's depth, trades, per-interval statistics, and a user's dashboard figures.

- The **book** of an interval aggregates its open orders per side and price level (energy and order
  count), bids from the highest price, asks from the lowest; it names no one.
- **Trades**: a user's own (as buyer or seller, merged in id order: ids sort by interval), or, for admins,
  everyone's; ``interval`` or a ``from``/``to`` window of interval starts narrows them.
- **Stats** read the clearing records of the intervals starting in ``[from, to)`` (at most
  ``STATS_MAX_DAYS``; default: the day up to the last interval whose gate has closed): volume, VWAP,
  participants, lowest and highest trade price, computed once when each interval cleared.
- The **dashboard** sums a user's trades of the intervals starting in a window (default: 30 days up to the
  horizon, at most ``DASHBOARD_MAX_DAYS``): energy sold and bought, earnings (what buyers paid them),
  spending (price and grid fee), and their open orders.
"""

from __future__ import annotations

from typing import Any

from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import to_iso
from gridshare.kernel.roles import Caller
from gridshare.market.fees import trade_cost_minor
from gridshare.market.models import TradeModel
from gridshare.market.rules import INTERVAL_MS, id_bound, interval_iso, parse_interval
from gridshare.market.use_cases import MarketUseCases, trade_view

__all__ = ["DASHBOARD_DAYS", "DASHBOARD_MAX_DAYS", "STATS_MAX_DAYS", "TRADES_MAX_DAYS", "MarketData"]

STATS_MAX_DAYS = 7
TRADES_MAX_DAYS = 31
DASHBOARD_DAYS = 30
DASHBOARD_MAX_DAYS = 366
SEES_ALL_TRADES = ("admin",)
DAY_MS = 86_400_000


def _span(start: int | None, end: int | None, default_end: int, default_days: int, max_days: int) -> tuple[int, int]:
    end = end if end is not None else default_end
    start = start if start is not None else end - default_days * DAY_MS
    if end <= start:
        raise errors.InvalidInput("`to` must be after `from`.", errors=[errors.FieldError("to", "not after from")])
    if end - start > max_days * DAY_MS:
        raise errors.InvalidInput(
            f"Ask at most {max_days} days.", errors=[errors.FieldError("from", f"at most {max_days} days before to")]
        )
    return start, end


class MarketData(MarketUseCases):
    # ------------------------------------------------------------ book
    def book(self, interval_text: str) -> dict[str, Any]:
        interval = parse_interval(interval_text)
        levels: dict[str, dict[int, list[int]]] = {"BID": {}, "ASK": {}}
        for order in self.store.orders_of_interval(interval):
            if order.status != "open":
                continue
            level = levels[order.side].setdefault(int(order.limit_price), [0, 0])
            level[0] += int(order.energy_wh)
            level[1] += 1

        def rows(side: str, descending: bool) -> list[dict[str, int]]:
            return [
                {"priceMinorPerKwh": price, "energyWh": energy, "orders": count}
                for price, (energy, count) in sorted(levels[side].items(), reverse=descending)
            ]

        rules = self.config().rules
        record = self.store.interval(interval)
        status = rules.interval_status(interval, self.clock(), record.status if record is not None else None)
        return {
            "interval": interval_iso(interval),
            "status": status,
            "bids": rows("BID", True),
            "asks": rows("ASK", False),
        }

    # ------------------------------------------------------------ trades
    def trades(
        self,
        caller: Caller,
        limit: int,
        cursor: str | None,
        *,
        interval: str | None,
        start: int | None,
        end: int | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        if interval is not None:
            start = parse_interval(interval)
            end = start + INTERVAL_MS
        low = id_bound(start, upper=False) if start is not None else id_bound(0, upper=False)
        high = id_bound(end - 1, upper=True) if end is not None else id_bound(2**47, upper=True)
        state = decode_cursor(cursor)
        everyone = caller.role in SEES_ALL_TRADES
        if state is not None and state.get("user") != (None if everyone else caller.user_id):
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        if everyone:
            items, last = self.store.all_trades(low, high, limit, state.get("key") if state else None)
            next_state = {"user": None, "key": last} if last else None
            return [trade_view(t) for t in items], encode_cursor(next_state)
        after = str(state["after"]) if state is not None and isinstance(state.get("after"), str) else low
        found: dict[str, TradeModel] = {}
        for side in ("buyer", "seller"):
            for trade in self.store.party_trades(side, caller.user_id, after, high, limit + 2):
                found[trade.id] = trade
        ordered = [found[i] for i in sorted(found)]
        page, more = ordered[:limit], len(ordered) > limit
        return [trade_view(t) for t in page], encode_cursor(
            {"user": caller.user_id, "after": page[-1].id} if more else None
        )

    # ------------------------------------------------------------ stats
    def stats(self, start: int | None, end: int | None) -> dict[str, Any]:
        rules = self.config().rules
        # default: up to the last interval whose gate has closed (the ones that can have cleared)
        last_due = (self.clock() + rules.gate_closure_s * 1000) // INTERVAL_MS * INTERVAL_MS
        start, end = _span(start, end, last_due + INTERVAL_MS, 1, STATS_MAX_DAYS)
        first = -(-start // INTERVAL_MS) * INTERVAL_MS
        starts = list(range(first, end, INTERVAL_MS))
        records = self.store.intervals(starts) if starts else {}
        rows = []
        for interval in starts:
            record = records.get(interval)
            if record is None or record.status not in ("cleared", "settled"):
                continue
            rows.append(
                {
                    "interval": interval_iso(interval),
                    "volumeWh": int(record.cleared_energy_wh),
                    "tradeCount": int(record.trade_count),
                    "vwapMinorPerKwh": int(record.vwap) if record.vwap is not None else None,
                    "clearingPrice": int(record.clearing_price) if record.clearing_price is not None else None,
                    "participants": int(record.participants),
                    "priceMinMinorPerKwh": int(record.price_min) if record.price_min is not None else None,
                    "priceMaxMinorPerKwh": int(record.price_max) if record.price_max is not None else None,
                    "turnoverMinor": int(record.turnover_minor),
                }
            )
        return {
            "from": to_iso(start),
            "to": to_iso(end),
            "currency": self.config().currency,
            "intervals": rows,
            "totals": {
                "volumeWh": sum(r["volumeWh"] for r in rows),
                "tradeCount": sum(r["tradeCount"] for r in rows),
                "turnoverMinor": sum(r["turnoverMinor"] for r in rows),
            },
        }

    # ------------------------------------------------------------ dashboard
    def dashboard(self, caller: Caller, start: int | None, end: int | None) -> dict[str, Any]:
        # default: every interval with a trade so far (they clear before they start, up to the horizon)
        horizon = self.clock() + self.config().rules.horizon_days * DAY_MS
        start, end = _span(start, end, horizon, DASHBOARD_DAYS, DASHBOARD_MAX_DAYS)
        low, high = id_bound(start, upper=False), id_bound(end - 1, upper=True)
        sold = bought = earnings = spent = fees = 0
        sales = purchases = 0
        for trade in self.store.party_trades("seller", caller.user_id, low, high, None):
            to_seller, _ = trade_cost_minor(int(trade.energy_wh), int(trade.price), int(trade.grid_fee))
            sold += int(trade.energy_wh)
            earnings += to_seller
            sales += 1
        for trade in self.store.party_trades("buyer", caller.user_id, low, high, None):
            to_seller, to_grid = trade_cost_minor(int(trade.energy_wh), int(trade.price), int(trade.grid_fee))
            bought += int(trade.energy_wh)
            spent += to_seller + to_grid
            fees += to_grid
            purchases += 1
        open_orders = {"BID": 0, "ASK": 0}
        for order in self.store.open_orders(caller.user_id):
            open_orders[order.side] += 1
        return {
            "from": to_iso(start),
            "to": to_iso(end),
            "currency": self.config().currency,
            "energySoldWh": sold,
            "energyBoughtWh": bought,
            "earningsMinor": earnings,
            "spentMinor": spent,
            "gridFeesMinor": fees,
            "sales": sales,
            "purchases": purchases,
            "openOrders": open_orders["BID"] + open_orders["ASK"],
            "openBids": open_orders["BID"],
            "openAsks": open_orders["ASK"],
            "reservedMinor": self.wallets().reservations.held(caller.user_id, self.config().currency),
        }
