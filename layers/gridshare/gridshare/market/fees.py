"""Grid fees and the money of a trade, in minor units: what the order API needs of the clearing rules
without the auction's arrays (gridshare.market.clearing re-exports them; numpy stays off the order path).

**Money in minor units** (``trade_cost_minor``): for a trade of ``e`` Wh at price ``p`` and fee ``f``
(per kWh) the buyer pays ``floor(e * (p + f) / 1000)``, the seller receives ``floor(e * p / 1000)`` and
the grid the remainder (``floor(e * f / 1000)`` or one more), so buyer = seller + grid exactly. The
buyer's total rounds down so that a bid's reservation, ``max_bid_cost_minor = ceil(E * (L + G) / 1000)``
for energy E, limit L and grid fee G, always covers every trade of that bid however it is split: a sum
of floors is at most the floor of the sum.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_PRICE", "Fees", "max_bid_cost_minor", "trade_cost_minor"]

MAX_PRICE = 2**31 - 1  # minor units per kWh


@dataclass(frozen=True)
class Fees:
    """Grid fees per kWh, added to the buyer's price and kept for the grid counterparty."""

    grid_fee_minor_per_kwh: int
    community_fee_minor_per_kwh: int  # when buyer and seller are in the same community

    def __post_init__(self) -> None:
        if not 0 <= self.community_fee_minor_per_kwh <= self.grid_fee_minor_per_kwh <= MAX_PRICE:
            raise ValueError("fees must satisfy 0 <= community fee <= grid fee")


def max_bid_cost_minor(energy_wh: int, limit_price_minor_per_kwh: int, fees: Fees) -> int:
    """A bid's worst-case cost, its reservation: ``ceil(energy_wh * (limit + grid_fee) / 1000)``."""
    return -(-energy_wh * (limit_price_minor_per_kwh + fees.grid_fee_minor_per_kwh) // 1000)


def trade_cost_minor(energy_wh: int, price: int, grid_fee: int) -> tuple[int, int]:
    """(to the seller, to the grid) in minor units for one trade; the buyer pays their sum.

    Buyer total ``floor(e * (price + fee) / 1000)``, seller ``floor(e * price / 1000)``, grid the rest.
    """
    total = energy_wh * (price + grid_fee) // 1000
    seller = energy_wh * price // 1000
    return seller, total - seller
