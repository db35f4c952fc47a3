"""Revenue split: host 45 %, investors 35 % pro rata, platform 20 %, exact to the minor unit.

Examples pin the rounding rule (largest remainder; ties to the larger fractional part, then the smaller
party id); a seeded loop of 100,000 random sales and share tables checks that the parts always sum to the
gross and that every part is the floor or the ceiling of its exact quota; hypothesis searches the corners.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.ledger.revenue_split import SplitResult, largest_remainder, split_sale

# --------------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------------


def test_round_amount_splits_45_35_20() -> None:
    assert split_sale(10_000, {"a": 1, "b": 1}) == SplitResult(
        host=4500, platform=2000, investors={"a": 1750, "b": 1750}
    )


def test_investors_are_paid_pro_rata_to_their_shares() -> None:
    result = split_sale(100_000, {"big": 6, "mid": 3, "small": 1})
    assert result.investors == {"big": 21_000, "mid": 10_500, "small": 3_500}
    assert result.total == 100_000 and result.investors_total == 35_000


@pytest.mark.parametrize(
    ("gross", "host", "investors", "platform"),
    [
        (0, 0, 0, 0),
        (1, 1, 0, 0),  # quotas .45/.35/.2: the one cent goes to the largest fraction, the host
        (2, 1, 1, 0),  # .9/.7/.4
        (3, 1, 1, 1),  # 1.35/1.05/.6: floors 1/1/0, the leftover to the platform's .6
        (7, 3, 3, 1),  # 3.15/2.45/1.4: floors 3/2/1, leftover to investors' .45
        (999, 449, 350, 200),  # 449.55/349.65/199.8: floors 449/349/199, leftovers to platform and investors
        (101, 46, 35, 20),  # 45.45/35.35/20.2
    ],
)
def test_role_split_by_largest_remainder(gross: int, host: int, investors: int, platform: int) -> None:
    result = split_sale(gross, {"i": 1})
    assert (result.host, result.investors_total, result.platform) == (host, investors, platform)


def test_ties_go_to_the_smaller_party_id() -> None:
    # 20 cents: quotas host 9, investors 7, platform 4 exactly; investors' 7 among three equal shares:
    # 2.33 each, floors 2, one cent left, all fractions equal -> "a" (smallest id), whatever the dict order.
    result = split_sale(20, {"c": 1, "a": 1, "b": 1})
    assert result.investors == {"a": 3, "b": 2, "c": 2}
    assert split_sale(20, {"b": 1, "c": 1, "a": 1}).investors == {"a": 3, "b": 2, "c": 2}
    # 5 among three: 1.67 each, two cents left -> a, b.
    assert largest_remainder(5, {"c": 1, "b": 1, "a": 1}) == {"a": 2, "b": 2, "c": 1}
    # Role ties: 50/50/0 split of 1 -> tie between host and investors, "host" < "investors".
    assert split_sale(1, {"i": 1}, host_pct=50, investors_pct=50, platform_pct=0).host == 1


def test_the_larger_fraction_wins_before_the_id() -> None:
    # 10 by 1:2 -> 3.33 / 6.67: "z" has the larger fraction and gets the leftover despite its id.
    assert largest_remainder(10, {"a": 1, "z": 2}) == {"a": 3, "z": 7}


def test_host_and_platform_do_not_depend_on_the_share_table() -> None:
    one = split_sale(12_345, {"only": 1})
    many = split_sale(12_345, {f"inv-{i}": i + 1 for i in range(17)})
    assert (one.host, one.platform, one.investors_total) == (many.host, many.platform, many.investors_total)


def test_fraction_and_decimal_shares() -> None:
    thirds = split_sale(3_000, {"a": Fraction(1, 3), "b": Fraction(2, 3)})
    assert thirds.investors == {"a": 350, "b": 700}
    decimals = split_sale(3_000, {"a": Decimal("0.25"), "b": Decimal("0.75")})
    assert decimals.investors == {"a": 263, "b": 787}  # 262.5 / 787.5: tie on .5 -> "a"
    assert split_sale(3_000, {"a": 1, "b": 3}) == decimals  # only the ratios matter


def test_custom_percentages() -> None:
    result = split_sale(1_000, {"i": 1}, host_pct=50, investors_pct=30, platform_pct=20)
    assert (result.host, result.investors["i"], result.platform) == (500, 300, 200)
    result = split_sale(
        1_000, {"i": 1}, host_pct=Fraction(100, 3), investors_pct=Fraction(100, 3), platform_pct=Fraction(100, 3)
    )
    assert (result.host, result.investors["i"], result.platform) == (334, 333, 333)


def test_no_investors_is_refused_unless_the_caller_decides() -> None:
    with pytest.raises(ValueError, match="no investors"):
        split_sale(1_000, {})
    assert split_sale(1_000, {}, no_investors="host") == SplitResult(host=800, platform=200)
    assert split_sale(1_000, {}, no_investors="pool") == SplitResult(host=450, platform=200, pool=350)
    # Without an investors' percentage there is nothing to decide.
    assert split_sale(1_000, {}, host_pct=80, investors_pct=0, platform_pct=20) == SplitResult(host=800, platform=200)
    # "host" adds the investors' part as computed, so the platform's fee is the same as with investors.
    for gross in range(0, 200):
        assert split_sale(gross, {}, no_investors="host").platform == split_sale(gross, {"i": 1}).platform


@pytest.mark.parametrize(
    ("gross", "shares", "kwargs", "message"),
    [
        (-1, {"a": 1}, {}, "gross"),
        (1.5, {"a": 1}, {}, "gross"),
        (True, {"a": 1}, {}, "gross"),
        (100, {"a": 0}, {}, "> 0"),
        (100, {"a": -1}, {}, "> 0"),
        (100, {"a": 0.5}, {}, "int, Fraction or Decimal"),
        (100, {"a": Decimal("NaN")}, {}, "finite"),
        (100, {"a": 1}, {"host_pct": 50}, "sum to 100"),
        (100, {"a": 1}, {"host_pct": -5, "investors_pct": 85}, ">= 0"),
        (100, {"a": 1}, {"host_pct": 45.0}, "int, Fraction or Decimal"),
        (100, {"a": 1}, {"no_investors": "burn"}, "no_investors"),
    ],
)
def test_refusals(gross: Any, shares: dict[str, Any], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_sale(gross, shares, **kwargs)


def test_largest_remainder_refusals_and_zero_weights() -> None:
    assert largest_remainder(7, {"a": 1, "zero": 0, "b": 1}) == {"a": 4, "zero": 0, "b": 3}
    for total, weights in [(-1, {"a": 1}), (5, {}), (5, {"a": 0}), (5, {"": 1}), (5, {"a": -1}), (1.0, {"a": 1})]:
        with pytest.raises(ValueError):
            largest_remainder(total, weights)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------


def as_integers(shares: dict[str, Any]) -> dict[str, int]:
    """Shares scaled to integers with the same ratios (the test's own, simple version)."""
    if all(type(v) is int for v in shares.values()):
        return shares
    exact = {k: Fraction(v) for k, v in shares.items()}
    denominator = math.lcm(*(v.denominator for v in exact.values()))
    return {k: int(v * denominator) for k, v in exact.items()}


def check_split(gross: int, shares: dict[str, Any], result: SplitResult, weights: dict[str, int] | None = None) -> None:
    """Exact sum, and every part the floor or the ceiling of its exact quota (integer arithmetic only)."""
    assert result.host + result.platform + sum(result.investors.values()) == gross
    assert result.pool == 0 and result.investors.keys() == shares.keys()
    for part, pct in ((result.host, 45), (result.platform, 20), (result.investors_total, 35)):
        floor, remainder = divmod(gross * pct, 100)
        assert part == floor or (remainder and part == floor + 1)
    weights = weights or as_integers(shares)
    divisor = sum(weights.values())
    investors_total = result.investors_total
    for investor, amount in result.investors.items():
        floor, remainder = divmod(investors_total * weights[investor], divisor)
        assert amount == floor or (remainder and amount == floor + 1)


def random_shares(rng: random.Random) -> dict[str, Any]:
    """1-12 investors with int, equal, Fraction or Decimal shares; random ids so ties meet any order."""
    style = rng.random()
    shares: dict[str, Any] = {}
    for i in range(rng.randint(1, 12)):
        key = f"inv-{rng.randint(0, 999):03d}-{i}"
        if style < 0.5:
            shares[key] = rng.randint(1, 10_000)
        elif style < 0.7:
            shares[key] = 1  # equal shares: ties everywhere
        elif style < 0.9:
            shares[key] = Fraction(rng.randint(1, 97), rng.randint(1, 97))
        else:
            shares[key] = Decimal(rng.randint(1, 10**6)) / 1000
    return shares


def random_gross(rng: random.Random) -> int:
    kind = rng.random()
    if kind < 0.4:
        return rng.randint(0, 1_000)  # small amounts: the rounding dominates
    if kind < 0.8:
        return rng.randint(0, 10_000_000)
    return rng.randint(0, 10**13)


def test_100k_random_sales_always_sum_exactly() -> None:
    """100,000 (gross, share table) cases: 2,000 random share tables, 50 random gross amounts each."""
    rng = random.Random(20260101)
    cases = 0
    for _ in range(2_000):
        shares = random_shares(rng)
        weights = as_integers(shares)
        for _ in range(50):
            gross = random_gross(rng)
            check_split(gross, shares, split_sale(gross, shares), weights)
            cases += 1
    assert cases == 100_000
    # Determinism: the same inputs in another dict order give the same parts.
    shares = random_shares(random.Random(7))
    assert split_sale(123_457, dict(reversed(list(shares.items())))) == split_sale(123_457, shares)


@settings(max_examples=150, deadline=None)
@given(
    gross=st.integers(0, 10**15),
    shares=st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=4),
        st.integers(1, 10**9) | st.fractions(min_value=Fraction(1, 10**6), max_value=10**6),
        min_size=1,
        max_size=20,
    ),
)
def test_split_property(gross: int, shares: dict[str, Any]) -> None:
    result = split_sale(gross, shares)
    check_split(gross, shares, result)
    assert split_sale(gross, dict(sorted(shares.items(), reverse=True))) == result


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(0, 10**12),
    weights=st.dictionaries(
        st.text("xyz", min_size=1, max_size=3), st.integers(0, 1000), min_size=1, max_size=10
    ).filter(lambda w: sum(w.values()) > 0),
)
def test_largest_remainder_property(total: int, weights: dict[str, int]) -> None:
    parts = largest_remainder(total, weights)
    assert sum(parts.values()) == total
    divisor = sum(weights.values())
    for key, weight in weights.items():
        floor, remainder = divmod(total * weight, divisor)
        assert parts[key] in ((floor, floor + 1) if remainder else (floor,))
    # The units above the floor went to the largest remainders, ties to the smaller key.
    ranked = sorted(weights, key=lambda k: (-((total * weights[k]) % divisor), k))
    lucky = {k for k in weights if parts[k] > total * weights[k] // divisor}
    assert lucky == set(ranked[: len(lucky)])
