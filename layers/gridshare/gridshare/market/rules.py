"""The market's rules as pure functions: delivery intervals, gate closure, the horizon, order limits, statuses.

Pure (stdlib and ULIDs, no AWS): the order use cases and the clearing run call these, and unit tests prove
them without a table. Times are epoch milliseconds (UTC).

- A **delivery interval** starts on a 15-minute UTC boundary and is named by its start
  (``2026-12-02T10:15:00Z``).
- Its **gate** closes ``gateClosureS`` (default 300 s) before it starts: orders are accepted and cancelled
  while ``now < gate``; at ``now >= gate`` the interval is *closed* and clearing may run.
- Orders are accepted at most ``horizonDays`` (default 2) ahead: ``intervalStart <= now + horizon``.
- An ASK offers at most what its site can produce in 15 minutes: ``capacityKw x 250 Wh``.
- After clearing an order is ``filled`` (all of it), ``partially_filled`` or ``expired`` (none of it).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from gridshare.kernel import errors, ids

__all__ = [
    "ENERGY_MAX_WH",
    "INTERVAL_MS",
    "PRICE_MAX_MINOR_PER_KWH",
    "SIDES",
    "STATUSES",
    "WH_PER_KW_PER_INTERVAL",
    "MarketRules",
    "Side",
    "Status",
    "after_clearing",
    "interval_iso",
    "max_ask_wh",
    "parse_interval",
    "trade_id",
]

INTERVAL_MS = 15 * 60 * 1000
WH_PER_KW_PER_INTERVAL = 250
"""1 kW for 15 minutes is 250 Wh."""
ENERGY_MAX_WH = 100_000_000
"""100 MWh: above any one site's quarter hour (a 400 MW plant), so a typo cannot reserve a fortune."""
PRICE_MAX_MINOR_PER_KWH = 100_000
"""1,000.00 per kWh: far above any scarcity price, still far below the ledger's limits."""

Side = Literal["BID", "ASK"]
Status = Literal["open", "filled", "partially_filled", "cancelled", "expired"]
SIDES: tuple[Side, ...] = ("BID", "ASK")
STATUSES: tuple[Status, ...] = ("open", "filled", "partially_filled", "cancelled", "expired")
IntervalStatus = Literal["open", "closed", "cleared", "settled"]


def _invalid(field_name: str, message: str, detail: str) -> errors.InvalidInput:
    return errors.InvalidInput(detail, errors=[errors.FieldError(field_name, message)])


def parse_interval(text: str, field_name: str = "interval") -> int:
    """An ISO 8601 interval start with an offset (or Z), on a 15-minute UTC boundary -> epoch ms (422 else)."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise _invalid(field_name, "an ISO 8601 time", f"{text!r} is not an ISO 8601 time.") from None
    if parsed.tzinfo is None:
        raise _invalid(field_name, "needs an offset or Z", f"{text!r} has no UTC offset.")
    ms = int(parsed.timestamp() * 1000)
    if parsed.microsecond or ms % INTERVAL_MS:
        raise _invalid(field_name, "not on a 15-minute boundary", f"{text!r} is not the start of a 15-minute interval.")
    return ms


def interval_iso(start_ms: int) -> str:
    """The interval's name: its start as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(start_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class MarketRules:
    gate_closure_s: int = 300
    horizon_days: int = 2

    def gate(self, interval_ms: int) -> int:
        """When the interval's gate closes (epoch ms)."""
        return interval_ms - self.gate_closure_s * 1000

    def is_open(self, interval_ms: int, now: int) -> bool:
        return now < self.gate(interval_ms)

    def check_orderable(self, interval_ms: int, now: int) -> None:
        """Refuse (422 ``interval``) an interval whose gate has closed or that lies beyond the horizon."""
        if not self.is_open(interval_ms, now):
            raise _invalid(
                "interval",
                "past gate closure",
                f"The gate of {interval_iso(interval_ms)} closed at {interval_iso(self.gate(interval_ms))} "
                f"({self.gate_closure_s} s before it starts).",
            )
        if interval_ms > now + self.horizon_days * 86_400_000:
            raise _invalid(
                "interval",
                f"more than {self.horizon_days} days ahead",
                f"Orders are accepted at most {self.horizon_days} days ahead.",
            )

    def interval_status(self, interval_ms: int, now: int, record_status: str | None) -> IntervalStatus:
        """open before the gate; closed after it until cleared; then the clearing record's status."""
        if record_status in ("cleared", "settled"):
            return record_status  # type: ignore[return-value]
        return "open" if self.is_open(interval_ms, now) else "closed"


def max_ask_wh(capacity_kw: float) -> int:
    """The most a site can produce in one interval: capacityKw x 250 Wh, rounded down to a Wh."""
    return math.floor(capacity_kw * WH_PER_KW_PER_INTERVAL + 1e-9)


def after_clearing(energy_wh: int, filled_wh: int) -> Status:
    """An order's status once its interval has cleared."""
    if not 0 <= filled_wh <= energy_wh:
        raise ValueError(f"filled {filled_wh} Wh of an order of {energy_wh} Wh")
    if filled_wh == energy_wh:
        return "filled"
    return "partially_filled" if filled_wh else "expired"


def trade_id(interval_ms: int, bid_order_id: str, ask_order_id: str) -> str:
    """A trade's id: a ULID whose time is the interval's start and whose randomness is a hash of the two
    orders, so a re-run of the clearing names the same trade the same, and ids sort by interval."""
    randomness = hashlib.sha256(f"{bid_order_id}\n{ask_order_id}".encode()).digest()[:10]
    return ids.from_parts(interval_ms, randomness)


def id_bound(at_ms: int, *, upper: bool) -> str:
    """The smallest (or largest) ULID of a millisecond: the range-key bound of ids made at ``at_ms``."""
    fill = b"\xff" * 10 if upper else b"\x00" * 10
    return ids.from_parts(max(at_ms, 0), fill)
