"""Synthetic load and PV profiles of simulated members. Pure and deterministic (no clock, no randomness).

A profile is ``{"annualLoadKwh", "pvKwp"}`` (and the member's longitude, for solar time). Energy is built
from 15-minute slots (UTC-aligned) and summed into any interval made of whole slots:

- **load**: ``annualLoadKwh / 365`` per day, shaped by a residential daily curve (``LOAD_SHAPE``: 24 hourly
  weights averaging 1; night low, morning and evening peaks) in the member's solar time;
- **PV**: a clear-sky curve ``pvKwp x 0.75 kW/kWp x sin(pi (t - 6 h) / 12 h)`` between 06:00 and 18:00 solar
  time, times a seasonal factor ``0.65 + 0.35 cos(2 pi (day - 172) / 365)`` (highest at the June solstice).

Each slot's Wh is rounded to an integer on its own, so an interval's energy is the same whichever interval
the slot is summed into.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

SLOT_MS = 900_000
HOUR_MS = 3_600_000
PEAK_KW_PER_KWP = 0.75  # a clear-sky noon on a tilted roof, after inverter and temperature losses
LOAD_SHAPE: tuple[float, ...] = (
    0.55, 0.5, 0.45, 0.45, 0.5, 0.6, 0.9, 1.25, 1.2, 0.95, 0.85, 0.9,
    1.0, 0.95, 0.85, 0.85, 0.95, 1.25, 1.6, 1.75, 1.6, 1.35, 1.0, 0.7,
)  # fmt: skip

__all__ = ["LOAD_SHAPE", "PEAK_KW_PER_KWP", "Profile", "interval_energy", "slot_energy"]


@dataclass(frozen=True)
class Profile:
    annual_load_kwh: float
    pv_kwp: float
    lon: float = 0.0

    @classmethod
    def of(cls, profile: Mapping[str, float], lon: float = 0.0) -> Profile:
        return cls(float(profile.get("annualLoadKwh", 0)), float(profile.get("pvKwp", 0)), lon)


def _solar_hour(ts: int, lon: float) -> float:
    return ((ts % 86_400_000) / HOUR_MS + lon / 15.0) % 24.0


def slot_energy(profile: Profile, slot_start: int) -> tuple[int, int]:
    """(production, consumption) Wh of the 15-minute slot starting at ``slot_start`` (epoch ms)."""
    middle = slot_start + SLOT_MS // 2
    hour = _solar_hour(middle, profile.lon)
    weight = LOAD_SHAPE[int(hour) % 24]
    load = profile.annual_load_kwh * 1000 / 365 / 96 * weight * 24 / sum(LOAD_SHAPE)
    day = datetime.fromtimestamp(middle / 1000, tz=UTC).timetuple().tm_yday
    season = 0.65 + 0.35 * math.cos(2 * math.pi * (day - 172) / 365)
    sun = math.sin(math.pi * (hour - 6) / 12) if 6 <= hour <= 18 else 0.0
    pv = profile.pv_kwp * 1000 * PEAK_KW_PER_KWP * max(0.0, sun) * season / 4
    return round(pv), round(load)


def interval_energy(profile: Profile, start: int, end: int) -> tuple[int, int]:
    """(production, consumption) Wh of [start, end): the sum of the slots that start inside it."""
    first = start + (-start) % SLOT_MS
    production = consumption = 0
    for slot in range(first, end, SLOT_MS):
        p, c = slot_energy(profile, slot)
        production += p
        consumption += c
    return production, consumption
