"""Revenue split of an energy sale: host 45 %, investors 35 % pro rata to their shares, platform 20 %.

Pure Python, stdlib only. Money is an integer number of minor units, so a split can never be "about
right": the parts must add up to the gross exactly, every time, or the ledger transaction that pays them
would not balance. This module turns exact rational quotas into integers with the **largest remainder
method** (Hamilton's method):

1. every party's exact quota is ``gross * weight / total_weight`` (computed with integers, never floats);
2. every party gets the floor of its quota;
3. the units left over (fewer than the number of parties) go one each to the parties with the largest
   fractional parts; ties are broken by **party id ascending** (plain ``str`` ordering), so the result
   depends only on the inputs, never on dict order, hash seeds or the machine.

Every party therefore gets the floor or the ceiling of its exact quota, and the parts sum to the gross.

**Two stages.** :func:`split_sale` first splits the gross among the three roles (party ids ``"host"``,
``"investors"``, ``"platform"``), then splits the investors' part among the investors pro rata to their
shares. The alternative, one pass over host + each investor + platform, was rejected because the host's
and the platform's amounts would then depend on how the investor table happens to be divided (more
investors = more fractional parts competing for the leftover cents). With two stages the host and the
platform get the same amount for the same gross whatever the share table, and the investors together
get exactly the investors' part, which is what the settlement statements show.

**No investors.** A site with no investors yet is a configuration question, not a rounding one, so by
default :func:`split_sale` refuses (``ValueError``) whenever the investors' percentage is above zero and
the share table is empty. The caller may choose instead:

- ``no_investors="host"``: the investors' part (computed exactly as above) is added to the host's part,
  so the platform's fee is unchanged;
- ``no_investors="pool"``: the investors' part is returned as :attr:`SplitResult.pool`, to be held in the
  site's investor pool account until investors are known (see ``ledger.pool_payout``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from math import lcm
from typing import Literal

__all__ = [
    "DEFAULT_HOST_PCT",
    "DEFAULT_INVESTORS_PCT",
    "DEFAULT_PLATFORM_PCT",
    "NoInvestors",
    "SplitResult",
    "Weight",
    "largest_remainder",
    "split_sale",
]

DEFAULT_HOST_PCT = 45
DEFAULT_INVESTORS_PCT = 35
DEFAULT_PLATFORM_PCT = 20

Weight = int | Fraction | Decimal
"""An exact weight. Floats are refused: a binary float share (0.1) is not the number the user typed."""

NoInvestors = Literal["refuse", "host", "pool"]

HOST, INVESTORS, PLATFORM = "host", "investors", "platform"
_DEFAULTS = (DEFAULT_HOST_PCT, DEFAULT_INVESTORS_PCT, DEFAULT_PLATFORM_PCT)
_DEFAULT_PCTS: Mapping[str, int] = {
    HOST: DEFAULT_HOST_PCT,
    INVESTORS: DEFAULT_INVESTORS_PCT,
    PLATFORM: DEFAULT_PLATFORM_PCT,
}


@dataclass(frozen=True)
class SplitResult:
    """Integer parts of a sale; ``host + platform + sum(investors.values()) + pool == gross``."""

    host: int
    platform: int
    investors: dict[str, int] = field(default_factory=dict)
    pool: int = 0
    """The investors' part held for the site when it has no investors (``no_investors="pool"``)."""

    @property
    def investors_total(self) -> int:
        return sum(self.investors.values()) + self.pool

    @property
    def total(self) -> int:
        return self.host + self.platform + self.investors_total


def _exact(value: object, what: str) -> int | Fraction:
    """An exact rational from an int, Fraction or Decimal; anything else (float, bool, str) is refused.

    Ints are kept as ints: they are by far the common case and the integer path is several times faster.
    """
    if type(value) is int or type(value) is Fraction:
        return value
    if isinstance(value, bool) or not isinstance(value, int | Fraction | Decimal):
        raise ValueError(f"{what} must be an int, Fraction or Decimal, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{what} must be finite")
    return value if isinstance(value, int) else Fraction(value)


def _validated(weights: Mapping[str, Weight], *, positive: bool, what: str) -> dict[str, int | Fraction]:
    exact: dict[str, int | Fraction] = {}
    for party, weight in weights.items():
        if type(party) is not str or not party:
            raise ValueError("party ids must be non-empty strings")
        value = weight if type(weight) is int else _exact(weight, f"{what} of {party!r}")
        if value <= 0 and (positive or value < 0):
            raise ValueError(f"{what} of {party!r} must be {'> 0' if positive else '>= 0'}")
        exact[party] = value
    return exact


def largest_remainder(total: int, weights: Mapping[str, Weight]) -> dict[str, int]:
    """Split the integer ``total`` among ``weights`` exactly, by largest remainder.

    Returns one integer per key, each the floor or the ceiling of its exact quota, summing to ``total``.
    Leftover units go to the largest fractional parts first, ties to the smaller key (``str`` order).
    Weights must be >= 0 with a positive sum; a zero weight always gets 0.
    """
    if type(total) is not int:
        raise ValueError(f"total must be an int, not {type(total).__name__}")
    if total < 0:
        raise ValueError("total must be >= 0")
    if not weights:
        raise ValueError("at least one party is needed")
    return _largest_remainder(total, _validated(weights, positive=False, what="weight"))


def _largest_remainder(total: int, exact: Mapping[str, int | Fraction]) -> dict[str, int]:
    """The arithmetic is integer-only: weights are scaled to a common denominator, so the fractional
    parts are compared as integer remainders over one divisor (exact, and far faster than Fraction maths,
    which matters to settlement runs over many intervals and to the 100,000-case property test)."""
    scaled: Mapping[str, int]
    if all(type(w) is int for w in exact.values()):
        scaled = exact  # type: ignore[assignment]
    else:  # ints and Fractions both have numerator/denominator
        denominator = lcm(*(w.denominator for w in exact.values()))
        scaled = {party: w.numerator * (denominator // w.denominator) for party, w in exact.items()}
    divisor = sum(scaled.values())
    if divisor == 0:
        raise ValueError("the weights must not all be zero")
    parts: dict[str, int] = {}
    remainders: dict[str, int] = {}
    leftover = total
    for party, weight in scaled.items():
        part, remainders[party] = divmod(total * weight, divisor)
        parts[party] = part
        leftover -= part
    if leftover:
        # Sum of the fractional parts == leftover and each is < 1, so the first `leftover` parties in this
        # order all have a non-zero remainder: a zero weight can never receive a unit.
        for party in sorted(remainders, key=lambda p: (-remainders[p], p))[:leftover]:
            parts[party] += 1
    return parts


def split_sale(
    gross: int,
    investor_shares: Mapping[str, Weight],
    *,
    host_pct: Weight = DEFAULT_HOST_PCT,
    investors_pct: Weight = DEFAULT_INVESTORS_PCT,
    platform_pct: Weight = DEFAULT_PLATFORM_PCT,
    no_investors: NoInvestors = "refuse",
) -> SplitResult:
    """Split ``gross`` minor units among host, investors (pro rata to ``investor_shares``) and platform.

    Two stages (see the module docstring): host / investors / platform first, then the investors' part
    among the investors; both by largest remainder, ties to the larger fractional part, then the smaller
    party id. Shares may be any positive exact numbers (units held, Fractions of the site, percentages):
    only their ratios matter. Raises ``ValueError`` for a negative or non-integer gross, percentages that
    are negative or do not sum to 100, non-positive shares, and an empty share table when
    ``investors_pct > 0`` and ``no_investors == "refuse"``.
    """
    if type(gross) is not int:
        raise ValueError(f"gross must be an int number of minor units, not {type(gross).__name__}")
    if gross < 0:
        raise ValueError("gross must be >= 0 (a refund is a reversal, not a negative sale)")
    if (
        type(host_pct) is type(investors_pct) is type(platform_pct) is int
        and (host_pct, investors_pct, platform_pct) == _DEFAULTS
    ):
        pcts: Mapping[str, int | Fraction] = _DEFAULT_PCTS  # the settlement's every call: skip re-validating
    else:
        pcts = _validated(
            {HOST: host_pct, INVESTORS: investors_pct, PLATFORM: platform_pct}, positive=False, what="pct"
        )
        if sum(pcts.values()) != 100:
            raise ValueError(f"percentages must sum to 100, not {sum(pcts.values())}")
    if no_investors not in ("refuse", "host", "pool"):
        raise ValueError(f"no_investors must be 'refuse', 'host' or 'pool', not {no_investors!r}")
    shares = _validated(investor_shares, positive=True, what="share")
    if not shares and pcts[INVESTORS] > 0 and no_investors == "refuse":
        raise ValueError("the site has no investors: pass no_investors='host' or 'pool' to decide where 35 % goes")

    roles = _largest_remainder(gross, pcts)
    host, investors_part, platform = roles[HOST], roles[INVESTORS], roles[PLATFORM]
    if not shares:
        if no_investors == "pool":
            return SplitResult(host=host, platform=platform, investors={}, pool=investors_part)
        return SplitResult(host=host + investors_part, platform=platform, investors={})
    return SplitResult(host=host, platform=platform, investors=_largest_remainder(investors_part, shares))
