"""Investors' shares of a site: pro rata to what each has invested, as exact fractions. Pure.

A share is ``invested / total`` as a reduced fraction (``fractions.Fraction``), so shares sum to exactly 1
and compare exactly; the percent shown beside it is that fraction times 100, rounded to 4 decimals (for
display only: settlement weights are the fractions, or the invested amounts themselves).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["PERCENT_DECIMALS", "Share", "shares"]

PERCENT_DECIMALS = 4


@dataclass(frozen=True)
class Share:
    invested: int
    fraction: Fraction

    @property
    def percent(self) -> float:
        return round(float(self.fraction * 100), PERCENT_DECIMALS)

    def view(self) -> dict[str, int]:
        return {"numerator": self.fraction.numerator, "denominator": self.fraction.denominator}


def shares(invested: Mapping[str, int]) -> dict[str, Share]:
    """Investor -> share, pro rata to the (positive) amounts invested; empty when nobody invested."""
    if any(type(amount) is not int or amount <= 0 for amount in invested.values()):
        raise ValueError("invested amounts must be positive integers")
    total = sum(invested.values())
    return {investor: Share(amount, Fraction(amount, total)) for investor, amount in invested.items()}
