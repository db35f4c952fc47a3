"""Properties of the clearing (gridshare.market.clearing), checked with hypothesis on small books.

- it equals the plain-Python reference of the documented rules (tests/support/clearing_reference.py);
- no trade above its bid's limit or below its ask's; fills never exceed an order's energy;
- pay-as-clear: each market's uniform price clears it (no unmatched bid above it with an unmatched ask
  below it) and its welfare is the best of any feasible matching at that price, and in the open market
  the best of any matching at all (a bound computed Wh by Wh);
- the same trades whatever the order of the rows (mapped back by seq);
- community-only orders trade only inside their community, at the community fee;
- clear_many equals clear per interval.
"""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.market import clearing
from gridshare.market.clearing import MECHANISMS, Book, Clearing, Fees, clear, clear_many
from tests.support.clearing_reference import Row, reference_clear

FEES = Fees(grid_fee_minor_per_kwh=7, community_fee_minor_per_kwh=3)
EXAMPLES = settings(max_examples=50, deadline=None)


@st.composite
def books(draw: st.DrawFn, max_orders: int = 12, communities: bool = True) -> list[Row]:
    """Rows with small prices (many ties), small energies and unique seqs."""
    n = draw(st.integers(0, max_orders))
    # seq ranges that take each sorting path: radix passes, one argsort, lexsort; rows in seq order or not
    top = draw(st.sampled_from([10_000, 10_000, 2**55, 2**62]))
    seqs = draw(st.lists(st.integers(0, top), min_size=n, max_size=n, unique=True))
    if draw(st.booleans()):
        seqs.sort()
    out: list[Row] = []
    for seq in seqs:
        price = draw(st.integers(1, 12))
        energy = draw(st.integers(1, 9))
        community = draw(st.sampled_from([-1, -1, 0, 1, 2_000_000_000])) if communities else -1
        only = community >= 0 and draw(st.booleans())
        out.append((price, energy, seq, community, only))
    return out


mechanisms = st.sampled_from(MECHANISMS)


def trades(c: Clearing) -> list[tuple[int, ...]]:
    return [
        tuple(row)
        for row in zip(
            c.bid_index.tolist(),
            c.ask_index.tolist(),
            c.energy_wh.tolist(),
            c.price.tolist(),
            c.grid_fee.tolist(),
            c.market.tolist(),
            strict=True,
        )
    ]


@EXAMPLES
@given(books(), books(), mechanisms)
def test_equals_the_reference(bids: list[Row], asks: list[Row], mechanism: str) -> None:
    c = clear(Book.of(bids), Book.of(asks), mechanism=mechanism, fees=FEES)
    expected, clearing_price, uniform = reference_clear(bids, asks, mechanism, 7, 3)
    assert trades(c) == [(t.bid, t.ask, t.energy_wh, t.price, t.grid_fee, t.market) for t in expected]
    assert c.clearing_price == clearing_price
    assert dict(c.market_prices) == uniform
    assert c.cleared_energy_wh == sum(t.energy_wh for t in expected)


@EXAMPLES
@given(books(), books(), mechanisms)
def test_limits_and_energy_hold(bids: list[Row], asks: list[Row], mechanism: str) -> None:
    bid_book, ask_book = Book.of(bids), Book.of(asks)
    c = clear(bid_book, ask_book, mechanism=mechanism, fees=FEES)
    for book, rows in ((bid_book, bids), (ask_book, asks)):  # the books are left as they were
        fresh = Book.of(rows)
        assert all(np.array_equal(getattr(book, f), getattr(fresh, f)) for f in ("price", "energy_wh", "seq"))
    for i, j, energy, price, _fee, _market in trades(c):
        assert energy > 0
        assert asks[j][0] <= price <= bids[i][0]
    assert all(f <= r[1] for f, r in zip(c.filled_bid_wh(len(bids)).tolist(), bids, strict=True))
    assert all(f <= r[1] for f, r in zip(c.filled_ask_wh(len(asks)).tolist(), asks, strict=True))
    assert int(c.energy_wh.sum()) == c.cleared_energy_wh


def market_sides(
    bids: list[Row], asks: list[Row], c: Clearing, market: int
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(limit, energy offered to this market, energy traded in it) per bid and per ask of the market."""
    filled_before_b = [0] * len(bids)
    filled_before_a = [0] * len(asks)
    traded_b = [0] * len(bids)
    traded_a = [0] * len(asks)
    for i, j, energy, _p, _f, m in trades(c):
        if m == market:
            traded_b[i] += energy
            traded_a[j] += energy
        elif market == -1:  # community markets clear before the open market
            filled_before_b[i] += energy
            filled_before_a[j] += energy

    def member(r: Row) -> bool:
        return r[3] == market if market >= 0 else not r[4]

    side_b = [(r[0], r[1] - filled_before_b[i], traded_b[i]) for i, r in enumerate(bids) if member(r)]
    side_a = [(r[0], r[1] - filled_before_a[j], traded_a[j]) for j, r in enumerate(asks) if member(r)]
    return side_b, side_a


@EXAMPLES
@given(books(), books())
def test_the_uniform_price_clears_each_market_with_the_best_welfare_at_that_price(
    bids: list[Row], asks: list[Row]
) -> None:
    c = clear(Book.of(bids), Book.of(asks), mechanism="pay_as_clear", fees=FEES)
    for market, price in c.market_prices.items():
        side_b, side_a = market_sides(bids, asks, c, market)
        # No unmatched bid above the price together with an unmatched ask below it
        unmatched_bid_above = any(limit > price and offered > traded for limit, offered, traded in side_b)
        unmatched_ask_below = any(limit < price and offered > traded for limit, offered, traded in side_a)
        assert not (unmatched_bid_above and unmatched_ask_below)
        # Welfare at that price: every feasible matching uses bids with limit >= price and asks with
        # limit <= price, at most min(demand, supply) Wh; the best takes the highest bids and lowest asks.
        demand = sorted((limit for limit, offered, _ in side_b if limit >= price for _ in range(offered)), reverse=True)
        supply = sorted(limit for limit, offered, _ in side_a if limit <= price for _ in range(offered))
        volume = min(len(demand), len(supply))
        best = sum(demand[:volume]) - sum(supply[:volume])
        welfare = sum(limit * traded for limit, _, traded in side_b) - sum(
            limit * traded for limit, _, traded in side_a
        )
        assert welfare == best


@EXAMPLES
@given(books(communities=False), books(communities=False), mechanisms)
def test_the_open_market_maximises_welfare_over_every_matching(
    bids: list[Row], asks: list[Row], mechanism: str
) -> None:
    c = clear(Book.of(bids), Book.of(asks), mechanism=mechanism, fees=FEES)
    welfare = sum((bids[i][0] - asks[j][0]) * e for i, j, e, *_ in trades(c))
    # Any matching of q Wh is worth at most the q highest bid Wh minus the q lowest ask Wh.
    demand = sorted((r[0] for r in bids for _ in range(r[1])), reverse=True)
    supply = sorted(r[0] for r in asks for _ in range(r[1]))
    bound = max(sum(demand[:q]) - sum(supply[:q]) for q in range(min(len(demand), len(supply)) + 1))
    assert welfare == bound


@EXAMPLES
@given(books(), books(), mechanisms, st.randoms(use_true_random=False))
def test_the_order_of_the_rows_does_not_matter(bids: list[Row], asks: list[Row], mechanism: str, rnd) -> None:  # type: ignore[no-untyped-def]
    c = clear(Book.of(bids), Book.of(asks), mechanism=mechanism, fees=FEES)
    shuffled_b, shuffled_a = bids[:], asks[:]
    rnd.shuffle(shuffled_b)
    rnd.shuffle(shuffled_a)
    d = clear(Book.of(shuffled_b), Book.of(shuffled_a), mechanism=mechanism, fees=FEES)

    def by_seq(c: Clearing, b: list[Row], a: list[Row]) -> list[tuple[int, ...]]:
        return [(b[i][2], a[j][2], *rest) for i, j, *rest in trades(c)]

    assert by_seq(c, bids, asks) == by_seq(d, shuffled_b, shuffled_a)
    assert (c.clearing_price, dict(c.market_prices)) == (d.clearing_price, dict(d.market_prices))


@EXAMPLES
@given(books(), books(), mechanisms)
def test_community_only_orders_trade_inside_their_community(bids: list[Row], asks: list[Row], mechanism: str) -> None:
    c = clear(Book.of(bids), Book.of(asks), mechanism=mechanism, fees=FEES)
    for i, j, _e, _p, fee, market in trades(c):
        if bids[i][4] or asks[j][4]:
            assert bids[i][3] == asks[j][3] == market
        assert fee == (3 if bids[i][3] >= 0 and bids[i][3] == asks[j][3] else 7)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(books(max_orders=8), books(max_orders=8)), max_size=5), mechanisms, st.integers(1, 40))
def test_clear_many_equals_clear_per_interval(
    intervals: list[tuple[list[Row], list[Row]]], mechanism: str, batch_orders: int
) -> None:
    pairs = [(Book.of(b), Book.of(a)) for b, a in intervals]
    with patch.object(clearing, "_CHUNK_ORDERS", batch_orders):  # intervals cleared in batches of any size
        many = clear_many(pairs, mechanism=mechanism, fees=FEES)
    assert len(many) == len(pairs)
    for got, (b, a) in zip(many, pairs, strict=True):
        assert got.same_as(clear(b, a, mechanism=mechanism, fees=FEES))


def test_large_random_books_equal_the_reference() -> None:
    # Given a few hundred orders per side with many ties and communities, in several intervals
    rng = np.random.default_rng(13)
    intervals = []
    for _ in range(4):
        sides = []
        for _side in range(2):
            n = 300
            community = rng.choice([-1, -1, 0, 1, 2], size=n)
            rows: list[Row] = [
                (int(p), int(e), int(s), int(cm), bool(cm >= 0 and o))
                for p, e, s, cm, o in zip(
                    rng.integers(1, 40, n),
                    rng.integers(1, 5000, n),
                    rng.permutation(10 * n)[:n],
                    community,
                    rng.random(n) < 0.5,
                    strict=True,
                )
            ]
            sides.append(rows)
        intervals.append((sides[0], sides[1]))
    for mechanism in MECHANISMS:
        many = clear_many([(Book.of(b), Book.of(a)) for b, a in intervals], mechanism=mechanism, fees=FEES)
        for got, (b, a) in zip(many, intervals, strict=True):
            expected, clearing_price, uniform = reference_clear(b, a, mechanism, 7, 3)
            assert trades(got) == [(t.bid, t.ask, t.energy_wh, t.price, t.grid_fee, t.market) for t in expected]
            assert (got.clearing_price, dict(got.market_prices)) == (clearing_price, uniform)
