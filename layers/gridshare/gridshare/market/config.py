"""The market's configuration, from the one settings model (gridshare.kernel.settings, ``GS_MARKET_*``).

| setting | env | default |
|---|---|---|
| clearing mechanism | ``GS_MARKET_MECHANISM`` | ``pay_as_clear`` (or ``pay_as_bid``) |
| grid fee, minor units per kWh | ``GS_MARKET_GRID_FEE_MINOR_PER_KWH`` | 5 |
| grid fee inside a community | ``GS_MARKET_COMMUNITY_FEE_MINOR_PER_KWH`` | 2 |
| gate closure before an interval starts, s | ``GS_MARKET_GATE_CLOSURE_S`` | 300 |
| how far ahead orders are accepted, days | ``GS_MARKET_HORIZON_DAYS`` | 2 |
"""

from __future__ import annotations

from dataclasses import dataclass

from gridshare.kernel.settings import get_settings
from gridshare.market.fees import Fees
from gridshare.market.rules import MarketRules

__all__ = ["MarketConfig", "market_config"]


@dataclass(frozen=True)
class MarketConfig:
    rules: MarketRules
    mechanism: str
    fees: Fees
    currency: str


def market_config() -> MarketConfig:
    """Read when used (never at import), so tests and the local stack may change the environment first."""
    settings = get_settings()
    return MarketConfig(
        rules=MarketRules(settings.market_gate_closure_s, settings.market_horizon_days),
        mechanism=settings.market_mechanism,
        fees=Fees(settings.market_grid_fee_minor_per_kwh, settings.market_community_fee_minor_per_kwh),
        currency=settings.default_currency,
    )
