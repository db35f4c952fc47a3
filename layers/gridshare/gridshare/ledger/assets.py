"""Ledger assets: ISO 4217 currencies (counted in their minor unit) and the kWh credit (counted in Wh).

Constants and a predicate only, so request models and other contexts can name the currencies without
importing the ledger (gridshare.ledger.core re-exports every name here).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CURRENCIES", "KWH", "MAX_AMOUNT", "is_asset"]

KWH = "KWH"
"""The kWh-credit asset. Amounts are in Wh (1 KWH = 1,000 units), like every energy figure in Gridshare."""

_TWO_DIGITS = (
    "EUR USD GBP CHF SEK NOK DKK PLN CZK HUF RON BGN CAD AUD NZD SGD HKD CNY INR ZAR BRL MXN "  # noqa: SIM905
    "KES NGN GHS MAD EGP TRY AED SAR ILS THB MYR PHP IDR".split()
)
CURRENCIES: Mapping[str, int] = MappingProxyType(
    {
        # ISO 4217 code -> number of minor-unit digits. Extend when a market opens; an unknown code is
        # refused rather than guessed, because a wrong exponent misprices by 10x or 100x.
        **dict.fromkeys(_TWO_DIGITS, 2),
        **dict.fromkeys("JPY KRW ISK CLP VND UGX XOF XAF RWF".split(), 0),  # noqa: SIM905
        **dict.fromkeys("BHD KWD JOD OMR TND".split(), 3),  # noqa: SIM905
    }
)

MAX_AMOUNT = 10**15
"""Largest absolute amount of one entry (10 trillion EUR in cents): far above any real movement, far
below DynamoDB's 38 significant digits, and a cheap guard against a unit mix-up (Wh vs mWh, cents vs
micros) slipping through as a valid number."""


def is_asset(asset: object) -> bool:
    return isinstance(asset, str) and (asset == KWH or asset in CURRENCIES)
