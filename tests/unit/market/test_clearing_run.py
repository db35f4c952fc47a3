"""Clearing an interval with fake collaborators (no AWS), as a property: whatever the orders, every BID's
reservation is exactly what its trades cost plus what went back, fills never exceed an order, trades are
named by their orders, a run announces each trade and each order it settled once, and a second run changes
(and announces) nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market import clearing as C
from gridshare.market.clearing import Fees, max_bid_cost_minor, trade_cost_minor
from gridshare.market.clearing_run import Clearing
from gridshare.market.config import MarketConfig
from gridshare.market.models import IntervalModel, OrderModel, TradeModel
from gridshare.market.rules import MarketRules, parse_interval, trade_id

T0 = parse_interval("2026-12-02T10:15:00Z")
FEES = Fees(5, 2)


@dataclass
class FakeStore:
    orders: list[OrderModel]
    trades: dict[str, TradeModel] = field(default_factory=dict)
    records: dict[int, IntervalModel] = field(default_factory=dict)
    writes: int = 0

    def start_clearing(self, record: IntervalModel) -> tuple[IntervalModel, bool]:
        start = int(record.interval_start)
        if start in self.records:
            return self.records[start], False
        self.records[start] = record
        return record, True

    def orders_of_interval(self, interval_start: int) -> list[OrderModel]:
        return [o for o in self.orders if int(o.interval_start) == interval_start]

    def put_trades(self, trades: list[TradeModel]) -> None:
        for trade in trades:
            self.trades[trade.id] = trade
            self.writes += 1

    def set_fill(self, order: OrderModel, filled_wh: int, status: str, at: int) -> bool:
        order.filled_wh, order.status = filled_wh, status
        self.writes += 1
        return True

    def set_released(self, order: OrderModel, amount: int) -> None:
        order.released_minor = amount

    def finish_clearing(self, record: IntervalModel) -> None:
        self.writes += 1


@dataclass
class FakeReservations:
    released: dict[str, int] = field(default_factory=dict)

    def release(self, order_id: str, user_id: str, amount: int, currency: str, *, reason: str) -> str:
        self.released.setdefault(f"{order_id}:{reason}", amount)  # a repeat posts nothing
        return order_id


@dataclass
class Recording:
    events: list[dict[str, object]] = field(default_factory=list)

    def publish(self, events: list[dict[str, object]]) -> None:
        self.events.extend(events)


@dataclass
class FakeWallets:
    reservations: FakeReservations = field(default_factory=FakeReservations)


order_rows = st.lists(
    st.tuples(
        st.sampled_from(["BID", "ASK"]),
        st.integers(min_value=1, max_value=5_000),  # Wh
        st.integers(min_value=1, max_value=60),  # limit
        st.sampled_from([None, "c1", "c2"]),
    ),
    max_size=25,
)


def _orders(rows: list[tuple[str, int, int, str | None]]) -> list[OrderModel]:
    made = []
    for n, (side, wh, price, community) in enumerate(rows):
        made.append(
            OrderModel(
                id=f"o{n:03d}",
                user_id=f"u{n % 5}",
                side=side,
                interval_start=T0,
                energy_wh=wh,
                limit_price=price,
                currency="EUR",
                community_id=community,
                community_only=community is not None,
                status="open",
                filled_wh=0,
                reserved_minor=max_bid_cost_minor(wh, price, FEES) if side == "BID" else 0,
                released_minor=0,
                created_at=T0 - 3_600_000 + n,
                updated_at=T0 - 3_600_000 + n,
            )
        )
    return made


@settings(max_examples=60, deadline=None)
@given(order_rows, st.sampled_from(["pay_as_clear", "pay_as_bid"]))
def test_a_clearing_run_keeps_every_reservation_whole_and_runs_once(
    rows: list[tuple[str, int, int, str | None]], mechanism: str
) -> None:
    orders = _orders(rows)
    store, wallets = FakeStore(orders), FakeWallets()
    config = MarketConfig(MarketRules(300, 2), mechanism, FEES, "EUR")
    published = Recording()
    run = Clearing(
        store,  # type: ignore[arg-type]
        lambda: T0,
        lambda: config,
        lambda: wallets,  # type: ignore[arg-type,return-value]
        events=lambda: published,
    )

    record = run.clear_interval(T0)

    by_id = {o.id: o for o in orders}
    spent: dict[str, int] = {}
    for trade in store.trades.values():
        bid, ask = by_id[trade.buy_order_id], by_id[trade.sell_order_id]
        assert trade.id == trade_id(T0, bid.id, ask.id)
        assert int(ask.limit_price) <= int(trade.price) <= int(bid.limit_price)
        seller, grid = trade_cost_minor(int(trade.energy_wh), int(trade.price), int(trade.grid_fee))
        spent[bid.id] = spent.get(bid.id, 0) + seller + grid
    for order in orders:
        assert 0 <= int(order.filled_wh) <= int(order.energy_wh)
        assert order.status in ("filled", "partially_filled", "expired")
        if order.side == "BID":
            released = wallets.reservations.released.get(f"{order.id}:unfilled", 0)
            assert spent.get(order.id, 0) + released == int(order.reserved_minor)
    assert record.status == "cleared" and int(record.trade_count) == len(store.trades)
    assert int(record.cleared_energy_wh) == sum(int(t.energy_wh) for t in store.trades.values())

    # announced once the record is cleared: every trade, then every order it settled, as the API shows them
    kinds = [(e["Source"], e["DetailType"]) for e in published.events]
    assert kinds == [("gridshare.market", "TradeExecuted")] * len(store.trades) + [
        ("gridshare.market", "OrderUpdated")
    ] * len(orders)
    trades = [e["Detail"] for e in published.events[: len(store.trades)]]  # type: ignore[index]
    assert sorted(t["trade"]["id"] for t in trades) == sorted(store.trades)
    for detail in trades:
        trade = store.trades[detail["trade"]["id"]]
        assert (detail["buyerId"], detail["sellerId"]) == (trade.buyer_id, trade.seller_id)
    for event in published.events[len(store.trades) :]:
        detail = event["Detail"]  # type: ignore[assignment]
        order = by_id[detail["order"]["id"]]  # type: ignore[index]
        assert detail["ownerId"] == order.user_id  # type: ignore[index]
        assert detail["order"]["status"] == order.status  # type: ignore[index]
        assert detail["order"]["filledEnergyWh"] == int(order.filled_wh)  # type: ignore[index]

    # a second run (the schedule again, or the admin route) writes nothing, releases and announces nothing more
    writes, released, announced = store.writes, dict(wallets.reservations.released), len(published.events)
    assert run.clear_interval(T0) is record
    assert (store.writes, wallets.reservations.released) == (writes, released)
    assert len(published.events) == announced


@given(
    st.lists(st.sampled_from(["BID", "ASK"]), max_size=4),
    st.sampled_from(["pay_as_clear", "pay_as_bid"]),
)
@settings(max_examples=20, deadline=None)
def test_an_interval_without_orders_is_recorded_as_the_auction_clears_an_empty_book(
    cancelled_sides: list[str], mechanism: str
) -> None:
    # Given an interval whose only orders (if any) were cancelled before its gate closed
    orders = _orders([(side, 1_000, 10, None) for side in cancelled_sides])
    for order in orders:
        order.status = "cancelled"
    store, wallets, published = FakeStore(orders), FakeWallets(), Recording()
    config = MarketConfig(MarketRules(300, 2), mechanism, FEES, "EUR")
    run = Clearing(
        store,  # type: ignore[arg-type]
        lambda: T0,
        lambda: config,
        lambda: wallets,  # type: ignore[arg-type,return-value]
        events=lambda: published,
    )

    # When it is cleared (the sweep takes the short way: there is no book to hand the auction)
    record = run.clear_interval(T0)

    # Then the record says what the auction says of two empty books, and nothing else was written or sent
    empty = C.clear(C.Book.of([]), C.Book.of([]), mechanism=mechanism, fees=FEES)
    assert record.status == "cleared" and record.mechanism == mechanism
    assert (record.clearing_price, int(record.cleared_energy_wh)) == (empty.clearing_price, empty.cleared_energy_wh)
    assert (int(record.trade_count), int(record.participants), int(record.turnover_minor)) == (0, 0, 0)
    assert (record.vwap, record.price_min, record.price_max) == (None, None, None)
    assert record.cleared_at == T0
    assert (store.trades, store.writes, wallets.reservations.released, published.events) == ({}, 1, {}, [])
    assert all(o.status == "cancelled" and int(o.filled_wh) == 0 for o in orders)
