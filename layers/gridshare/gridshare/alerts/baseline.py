"""Pure baseline comparison of `generation_drop` and `consumption_spike` rules: the energy of a closed
15-minute interval against the same quarter-hour on the previous 7 days, by median and MAD (median absolute
deviation), never a fixed number.

- spread = max(1.4826 * MAD, 5 % of |median|, 1 Wh): 1.4826 * MAD estimates the standard deviation of
  normal data while ignoring outliers; the floor keeps a perfectly regular history (MAD 0) from turning
  every small wobble into an alert.
- drop: current < median - k * spread; spike: current > median + k * spread (k = the rule's threshold,
  default 3).
- fewer than MIN_HISTORY days with data: no verdict (a new device has no baseline yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

QUARTER_MS: Final = 15 * 60_000
DAY_MS: Final = 86_400_000
DAYS: Final = 7
MIN_HISTORY: Final = 3
DEFAULT_K: Final = 3.0
MAD_SCALE: Final = 1.4826
RELATIVE_FLOOR: Final = 0.05
ABSOLUTE_FLOOR_WH: Final = 1.0
BASELINE_METRIC: Final = {"generation_drop": "energy_export_wh", "consumption_spike": "energy_import_wh"}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of nothing")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mad(values: list[float]) -> float:
    centre = median(values)
    return median([abs(v - centre) for v in values])


def closed_quarter(now_ms: int) -> int:
    """The start of the last 15-minute interval that has ended at `now_ms`."""
    return (now_ms // QUARTER_MS) * QUARTER_MS - QUARTER_MS


def history_starts(quarter: int, days: int = DAYS) -> list[int]:
    """The same quarter-hour on each of the previous `days` days (UTC), oldest first."""
    return [quarter - d * DAY_MS for d in range(days, 0, -1)]


@dataclass(frozen=True)
class Verdict:
    breach: bool
    median: float
    spread: float
    bound: float  # the value the current energy was compared with


def judge(kind: str, current: float, history: list[float], k: float = DEFAULT_K) -> Verdict | None:
    """Whether `current` breaches the rule against `history`; None without enough history."""
    if len(history) < MIN_HISTORY:
        return None
    centre = median(history)
    spread = max(MAD_SCALE * mad(history), RELATIVE_FLOOR * abs(centre), ABSOLUTE_FLOOR_WH)
    if kind == "generation_drop":
        bound = centre - k * spread
        return Verdict(current < bound, centre, spread, bound)
    if kind == "consumption_spike":
        bound = centre + k * spread
        return Verdict(current > bound, centre, spread, bound)
    raise ValueError(f"not a baseline kind: {kind!r}")
