"""Investors' shares (gridshare.sites.shares): exact, reduced, pro rata, summing to one."""

from __future__ import annotations

from fractions import Fraction
from math import gcd

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.sites.shares import shares


def test_two_investors() -> None:
    table = shares({"a": 30_000, "b": 10_000})
    assert table["a"].view() == {"numerator": 3, "denominator": 4}
    assert table["b"].view() == {"numerator": 1, "denominator": 4}
    assert (table["a"].percent, table["b"].percent) == (75.0, 25.0)


def test_thirds_are_exact_and_the_percent_rounded() -> None:
    table = shares({"a": 1, "b": 1, "c": 1})
    assert sum(s.fraction for s in table.values()) == 1
    assert table["a"].percent == 33.3333


def test_nobody_invested() -> None:
    assert shares({}) == {}


@pytest.mark.parametrize("amount", [0, -1, 1.5, True])
def test_amounts_are_positive_integers(amount: object) -> None:
    with pytest.raises(ValueError):
        shares({"a": amount})  # type: ignore[dict-item]


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.integers(min_value=1, max_value=10**12), max_size=30))
def test_shares_are_pro_rata_reduced_and_sum_to_one(invested: dict[str, int]) -> None:
    table = shares(invested)
    assert set(table) == set(invested)
    if table:
        assert sum(s.fraction for s in table.values()) == 1
        assert abs(sum(s.percent for s in table.values()) - 100) <= 0.0001 * len(table)
    total = sum(invested.values())
    for investor, share in table.items():
        view = share.view()
        assert gcd(view["numerator"], view["denominator"]) == 1
        assert Fraction(view["numerator"], view["denominator"]) == Fraction(invested[investor], total)
        assert share.invested == invested[investor]
