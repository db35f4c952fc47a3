"""Clearing an interval against the tables: the pure auction (:mod:`gridshare.market.clearing`) plus its writes.

``clear_interval`` (the admin route, and the sweep for each due interval) runs once the gate has closed
(409 before), and is idempotent per interval:

1. the clearing record is created (conditional put, status ``clearing``, with the mechanism of the
   run); a record already ``cleared`` answers as it stands and changes nothing; one left ``clearing`` by
   an interrupted run is resumed, with the mechanism it started with;
2. the interval's orders (all but cancelled ones: after gate closure an order cannot change, and clearing
   writes only fills, never what it reads) are put in time priority (``createdAt``, then id) and cleared;
   the same orders give the same trades, so a resumed run recomputes exactly what the first one did;
3. trades are put under ids derived from the interval and both orders (``rules.trade_id``);
4. each order gets its fill and status (``filled`` | ``partially_filled`` | ``expired``);
5. each BID's reservation minus what its trades cost (``clearing.trade_cost_minor``: to the seller and to
   the grid) goes back to the buyer's wallet through the wallets service (ledger id
   ``reservation:<orderId>:unfilled``); the filled part stays in escrow for settlement;
6. the record is marked ``cleared`` with the price, energy, trade count and the interval's statistics;
7. then (only the run that marked it cleared) its trades are announced as ``TradeExecuted`` and the orders
   it settled as ``OrderUpdated`` (:mod:`gridshare.market.pushes`; a failed publish is logged, never fatal).

The sweep (:meth:`Clearing.clear_due`, on the ``market-clearing`` schedule) clears, in order, each interval
after the last one it settled whose gate has closed, at most ``MAX_INTERVALS_PER_RUN`` per run, and
remembers how far it got. Its first run starts an hour back.

The auction (and numpy, its arrays) is imported when an interval has orders to clear: an interval without
orders is recorded as the auction records two empty books (no price, no energy, no trades), so a sweep of
empty intervals, the market's views and a settlement run's ``mark_settled`` never import numpy through here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gridshare.kernel import errors
from gridshare.kernel.clock import to_iso
from gridshare.market.models import IntervalModel, OrderModel, TradeModel
from gridshare.market.pushes import announce
from gridshare.market.rules import INTERVAL_MS, after_clearing, interval_iso, parse_interval, trade_id
from gridshare.market.use_cases import MarketUseCases

if TYPE_CHECKING:
    from gridshare.market import clearing as C

__all__ = ["MAX_INTERVALS_PER_RUN", "Clearing", "interval_view"]

logger = logging.getLogger("gridshare.market.clearing")

MAX_INTERVALS_PER_RUN = 192
"""Two days of intervals (the order horizon) per sweep run: bounds one run's work (an empty interval costs
a query and two small writes); a longer backlog clears over the next runs."""
FIRST_SWEEP_BACK_MS = 3_600_000
"""The first run ever starts an hour back: orders are only taken for intervals whose gate is still open, and
the schedule has run every minute since the market was deployed (an older interval: the admin route)."""


def interval_view(interval: int, status: str, record: IntervalModel | None, gate: int) -> dict[str, Any]:
    view: dict[str, Any] = {
        "interval": interval_iso(interval),
        "status": status,
        "gateClosure": to_iso(gate),
        "mechanism": record.mechanism if record is not None else None,
        "clearingPrice": None,
        "clearedEnergyWh": 0,
        "tradeCount": 0,
        "clearedAt": None,
    }
    if record is not None and record.status in ("cleared", "settled"):
        view["clearingPrice"] = int(record.clearing_price) if record.clearing_price is not None else None
        view["clearedEnergyWh"] = int(record.cleared_energy_wh)
        view["tradeCount"] = int(record.trade_count)
        view["clearedAt"] = to_iso(int(record.cleared_at)) if record.cleared_at is not None else None
    return view


def _by_time(orders: list[OrderModel]) -> list[OrderModel]:
    return sorted(orders, key=lambda o: (int(o.created_at), o.id))


class Clearing(MarketUseCases):
    def view(self, interval_text: str) -> dict[str, Any]:
        interval = parse_interval(interval_text)
        rules = self.config().rules
        record = self.store.interval(interval)
        status = rules.interval_status(interval, self.clock(), record.status if record is not None else None)
        return interval_view(interval, status, record, rules.gate(interval))

    def clear(self, interval_text: str) -> dict[str, Any]:
        """The admin route: clear one interval now (409 before its gate closes)."""
        interval = parse_interval(interval_text)
        rules = self.config().rules
        if rules.is_open(interval, self.clock()):
            raise errors.Conflict(
                f"The gate of {interval_iso(interval)} closes at {to_iso(rules.gate(interval))}: "
                "an interval clears after its gate closes.",
                errors=[errors.FieldError("interval", "before gate closure")],
            )
        record = self.clear_interval(interval)
        return interval_view(interval, record.status, record, rules.gate(interval))

    def clear_due(self, max_intervals: int = MAX_INTERVALS_PER_RUN) -> list[int]:
        """Clear the intervals whose gate has closed since the last run (bounded); the ones cleared."""
        config = self.config()
        now = self.clock()
        last_due = (now + config.rules.gate_closure_s * 1000) // INTERVAL_MS * INTERVAL_MS
        through = self.store.swept_through()
        first = (
            through + INTERVAL_MS if through is not None else (now - FIRST_SWEEP_BACK_MS) // INTERVAL_MS * INTERVAL_MS
        )
        done: list[int] = []
        for interval in range(first, last_due + 1, INTERVAL_MS):
            if len(done) >= max_intervals:
                break
            self.clear_interval(interval)
            self.store.set_swept_through(interval, now)
            done.append(interval)
        return done

    def clear_interval(self, interval: int) -> IntervalModel:
        config = self.config()
        now = self.clock()
        record, _ = self.store.start_clearing(
            IntervalModel(interval_start=interval, status="clearing", mechanism=config.mechanism, started_at=now)
        )
        if record.status != "clearing":
            return record  # cleared (or settled) already: a re-run changes nothing
        orders = [o for o in self.store.orders_of_interval(interval) if o.status != "cancelled"]
        if not orders:  # what the auction gives an empty book: no price, no trades, nothing to fill or release
            self._finish(record, None, [], now)
            return record
        from gridshare.market import clearing as C  # numpy: only for a book to clear

        bids = _by_time([o for o in orders if o.side == "BID"])
        asks = _by_time([o for o in orders if o.side == "ASK"])
        communities = {c: i for i, c in enumerate(sorted({o.community_id for o in orders if o.community_id}))}

        def book(side: list[OrderModel]) -> C.Book:
            return C.Book.of(
                [
                    (
                        int(o.limit_price),
                        int(o.energy_wh),
                        seq,
                        communities[o.community_id] if o.community_id else -1,
                        bool(o.community_only),
                    )
                    for seq, o in enumerate(side)
                ]
            )

        result = C.clear(book(bids), book(asks), mechanism=record.mechanism, fees=config.fees)
        trades = [
            TradeModel(
                id=trade_id(interval, bids[b].id, asks[a].id),
                interval_start=interval,
                buy_order_id=bids[b].id,
                sell_order_id=asks[a].id,
                buyer_id=bids[b].user_id,
                seller_id=asks[a].user_id,
                energy_wh=int(e),
                price=int(p),
                grid_fee=int(g),
                currency=bids[b].currency,
                created_at=now,
            )
            for b, a, e, p, g in zip(
                result.bid_index.tolist(),
                result.ask_index.tolist(),
                result.energy_wh.tolist(),
                result.price.tolist(),
                result.grid_fee.tolist(),
                strict=True,
            )
        ]
        self.store.put_trades(trades)
        filled_bids = result.filled_bid_wh(len(bids)).tolist()
        filled_asks = result.filled_ask_wh(len(asks)).tolist()
        settled: list[OrderModel] = []
        for side, filled in ((bids, filled_bids), (asks, filled_asks)):
            for order, wh in zip(side, filled, strict=True):
                if self.store.set_fill(order, int(wh), after_clearing(int(order.energy_wh), int(wh)), now):
                    settled.append(order)
        self._release_unfilled(bids, trades)
        self._finish(record, result, trades, now)
        announce(self.events(), trades, _by_time(settled))
        return record

    def _release_unfilled(self, bids: list[OrderModel], trades: list[TradeModel]) -> None:
        """Each BID's reservation minus what its trades cost goes back to the buyer's wallet."""
        from gridshare.market import clearing as C

        cost: dict[str, int] = {}
        for t in trades:
            to_seller, to_grid = C.trade_cost_minor(int(t.energy_wh), int(t.price), int(t.grid_fee))
            cost[t.buy_order_id] = cost.get(t.buy_order_id, 0) + to_seller + to_grid
        for order in bids:
            reserved = int(order.reserved_minor)
            spent = cost.get(order.id, 0)
            if spent > reserved:  # the reservation is the worst case: this would be a clearing bug
                logger.error("order %s: trades cost %s above its reservation %s", order.id, spent, reserved)
                raise errors.Conflict(f"Order {order.id}: its trades cost more than its reservation.")
            unfilled = reserved - spent
            if unfilled > 0 and int(order.released_minor) < unfilled:
                self.wallets().reservations.release(
                    order.id, order.user_id, unfilled, order.currency, reason="unfilled"
                )
                self.store.set_released(order, unfilled)

    def _finish(self, record: IntervalModel, result: C.Clearing | None, trades: list[TradeModel], now: int) -> None:
        """Mark the interval cleared with its statistics (``result`` None: it had no orders)."""
        energy = sum(int(t.energy_wh) for t in trades)
        value = sum(int(t.energy_wh) * int(t.price) for t in trades)
        prices = [int(t.price) for t in trades]
        record.status = "cleared"
        record.clearing_price = result.clearing_price if result is not None else None
        record.cleared_energy_wh = int(result.cleared_energy_wh) if result is not None else 0
        record.trade_count = len(trades)
        record.participants = len({t.buyer_id for t in trades} | {t.seller_id for t in trades})
        record.vwap = (2 * value + energy) // (2 * energy) if energy else None  # rounded half up
        record.price_min = min(prices) if prices else None
        record.price_max = max(prices) if prices else None
        record.turnover_minor = _turnover(trades)
        record.cleared_at = now
        self.store.finish_clearing(record)


def _turnover(trades: list[TradeModel]) -> int:
    """What buyers pay sellers for these trades, in minor units (grid fees apart)."""
    if not trades:
        return 0
    from gridshare.market import clearing as C

    return sum(C.trade_cost_minor(int(t.energy_wh), int(t.price), 0)[0] for t in trades)
