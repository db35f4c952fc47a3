"""Worked examples of the clearing rules (gridshare.market.clearing, docs/market.md "## Clearing")."""

from __future__ import annotations

import numpy as np
import pytest

from gridshare.market.clearing import (
    Book,
    Clearing,
    Fees,
    clear,
    clear_many,
    max_bid_cost_minor,
    trade_cost_minor,
    trade_costs_minor,
)

FEES = Fees(grid_fee_minor_per_kwh=5, community_fee_minor_per_kwh=2)


def rows(c: Clearing) -> list[tuple[int, int, int, int, int, int]]:
    return list(
        zip(
            c.bid_index.tolist(),
            c.ask_index.tolist(),
            c.energy_wh.tolist(),
            c.price.tolist(),
            c.grid_fee.tolist(),
            c.market.tolist(),
            strict=True,
        )
    )


def test_uniform_price_is_the_midpoint_of_the_marginal_pair_rounded_half_up() -> None:
    # Given bids 30 ct (1 kWh), 25 ct (2 kWh), 10 ct (1 kWh) and asks 12 ct (1.5 kWh), 20 ct (1 kWh), 28 ct (5 kWh)
    bids = Book.of([(30, 1000, 1, -1, False), (25, 2000, 2, -1, False), (10, 1000, 3, -1, False)])
    asks = Book.of([(12, 1500, 1, -1, False), (20, 1000, 2, -1, False), (28, 5000, 3, -1, False)])
    # When the interval clears pay-as-clear
    c = clear(bids, asks, fees=FEES)
    # Then 2.5 kWh trade: the curves cross between bid 25 and ask 20, at (25 + 20 + 1) // 2 = 23
    assert rows(c) == [(0, 0, 1000, 23, 5, -1), (1, 0, 500, 23, 5, -1), (1, 1, 1000, 23, 5, -1)]
    assert c.clearing_price == 23 and c.cleared_energy_wh == 2500 and c.market_prices == {-1: 23}
    assert c.filled_bid_wh(3).tolist() == [1000, 1500, 0]
    assert c.filled_ask_wh(3).tolist() == [1500, 1000, 0]


def test_pay_as_bid_prices_each_trade_at_its_bid() -> None:
    bids = Book.of([(30, 1000, 1, -1, False), (25, 2000, 2, -1, False)])
    asks = Book.of([(12, 1500, 1, -1, False), (20, 1000, 2, -1, False)])
    c = clear(bids, asks, mechanism="pay_as_bid", fees=FEES)
    assert rows(c) == [(0, 0, 1000, 30, 5, -1), (1, 0, 500, 25, 5, -1), (1, 1, 1000, 25, 5, -1)]
    # volume-weighted average (30 * 1000 + 25 * 1500) / 2500 = 27
    assert c.clearing_price == 27 and c.market_prices == {}


def test_the_margin_fills_by_time_priority() -> None:
    # Two bids at the same price: the earlier (lower seq) fills first whatever its position in the book
    bids = Book.of([(20, 1000, 9, -1, False), (20, 1000, 4, -1, False)])
    asks = Book.of([(10, 1500, 1, -1, False)])
    c = clear(bids, asks, fees=FEES)
    assert rows(c) == [(1, 0, 1000, 15, 5, -1), (0, 0, 500, 15, 5, -1)]


def test_nothing_clears_when_the_curves_do_not_cross() -> None:
    c = clear(Book.of([(10, 1000, 1, -1, False)]), Book.of([(11, 1000, 1, -1, False)]), fees=FEES)
    assert c.cleared_energy_wh == 0 and c.clearing_price is None and rows(c) == []
    assert clear(Book.of([]), Book.of([(1, 1, 1, -1, False)]), fees=FEES).clearing_price is None


def test_communities_clear_at_home_first_and_community_only_remainders_stay_home() -> None:
    # Community 0: a community-only bid (40 ct, 2 kWh) and an ordinary ask (15 ct, 1 kWh).
    # Open: a bid of no community (50 ct, 3 kWh), an ask of no community (5 ct, 4 kWh), a community-1 ask.
    bids = Book.of([(40, 2000, 1, 0, True), (50, 3000, 2, -1, False)])
    asks = Book.of([(15, 1000, 1, 0, False), (5, 4000, 2, -1, False), (30, 1000, 3, 1, False)])
    c = clear(bids, asks, fees=FEES)
    # Community 0 trades at home at (40 + 15 + 1) // 2 = 28 with the community fee; community 1 has no
    # bid; the open market matches the outside bid with the cheap ask at (50 + 5 + 1) // 2 = 28. The
    # community-only bid's remaining 1 kWh never meets the cheap outside ask.
    assert rows(c) == [(0, 0, 1000, 28, 2, 0), (1, 1, 3000, 28, 5, -1)]
    assert c.market_prices == {0: 28, -1: 28}
    assert c.filled_bid_wh(2).tolist() == [1000, 3000]


def test_a_members_ordinary_remainder_goes_to_the_open_market() -> None:
    bids = Book.of([(40, 2000, 1, 3, False)])
    asks = Book.of([(30, 500, 1, 3, False), (10, 5000, 2, -1, False)])
    c = clear(bids, asks, fees=FEES)
    assert rows(c) == [(0, 0, 500, 35, 2, 3), (0, 1, 1500, 25, 5, -1)]
    assert c.market_prices == {3: 35, -1: 25}
    assert c.clearing_price == (500 * 35 + 1500 * 25 + 1000) // 2000  # 27.5 rounds half up to 28
    assert c.clearing_price == 28


def test_clear_many_is_clear_per_interval() -> None:
    a = (Book.of([(30, 1000, 1, -1, False)]), Book.of([(10, 700, 1, -1, False)]))
    b = (Book.of([]), Book.of([]))
    c = (Book.of([(12, 100, 5, 2, True)]), Book.of([(11, 300, 7, 2, False)]))
    many = clear_many([a, b, c], fees=FEES)
    assert [m.same_as(clear(*x, fees=FEES)) for m, x in zip(many, [a, b, c], strict=True)] == [True] * 3
    assert clear_many([], fees=FEES) == []


def test_books_and_fees_are_validated() -> None:
    with pytest.raises(ValueError, match="unique"):
        Book.of([(10, 1, 1, -1, False), (11, 1, 1, -1, False)])
    with pytest.raises(ValueError, match="price"):
        Book.of([(0, 1, 1, -1, False)])
    with pytest.raises(ValueError, match="energy"):
        Book.of([(1, 0, 1, -1, False)])
    with pytest.raises(ValueError, match="community-only"):
        Book.of([(1, 1, 1, -1, True)])
    with pytest.raises(ValueError, match="length"):
        Book(np.array([1, 2]), np.array([1]), np.array([1]), np.array([1]), np.array([False]))
    with pytest.raises(ValueError, match="fees"):
        Fees(grid_fee_minor_per_kwh=1, community_fee_minor_per_kwh=2)
    with pytest.raises(ValueError, match="mechanism"):
        clear(Book.of([]), Book.of([]), mechanism="pay_as_you_wish", fees=FEES)


def test_money_rounding_in_minor_units() -> None:
    # 333 Wh at 25 + 5 per kWh: the buyer pays floor(9.99) = 9, the seller floor(8.325) = 8, the grid 1
    assert trade_cost_minor(333, 25, 5) == (8, 1)
    assert trade_cost_minor(1000, 25, 5) == (25, 5)
    seller, grid = trade_costs_minor(np.array([333, 1000]), np.array([25, 25]), np.array([5, 5]))
    assert seller.tolist() == [8, 25] and grid.tolist() == [1, 5]
    # The reservation rounds up: ceil(333 * 30 / 1000) = 10
    assert max_bid_cost_minor(333, 25, FEES) == 10
    assert max_bid_cost_minor(1000, 25, FEES) == 30
