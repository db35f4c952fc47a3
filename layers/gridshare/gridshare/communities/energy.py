"""A community's energy per interval: its members' metered (or synthetic) energy and what the sharing rule
moved between them. Pure: no AWS, no clock.

Intervals are UTC-aligned (``15m``, ``1h``, ``1d`` = UTC days: a community's members may live in several
time zones). Per interval, from :func:`gridshare.communities.allocation.allocate`:

- ``production``, ``consumption``: sums over the members;
- ``selfConsumed``: sum of ``min(production, consumption)`` per member (used where it was produced);
- ``shared``: the energy moved inside the community (sum of ``sharedIn`` == sum of ``sharedOut``);
- ``gridImport = consumption - selfConsumed - shared``, ``gridExport = production - selfConsumed - shared``;
- ``selfSufficiency = (selfConsumed + shared) / consumption`` (null when nothing was consumed);
- ``co2AvoidedG = round((selfConsumed + shared) Wh x intensity gCO2/kWh / 1000)``: the grid energy the
  community did not import, at the configured grid intensity (half to even).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from gridshare.communities.allocation import IntervalAllocation, MemberEnergy, Rule, allocate

Resolution = Literal["15m", "1h", "1d"]
RESOLUTION_MS: dict[str, int] = {"15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}

__all__ = [
    "RESOLUTION_MS",
    "MemberSeries",
    "Resolution",
    "Summary",
    "co2_avoided_g",
    "community_energy",
    "interval_starts",
    "source_resolution",
    "summarize",
]


def interval_starts(start: int, end: int, resolution: Resolution) -> list[int]:
    size = RESOLUTION_MS[resolution]
    return list(range(start - start % size, end, size))


def source_resolution(resolution: Resolution) -> str:
    """The rollup resolution to read: days are summed from hours."""
    return "1h" if resolution == "1d" else resolution


@dataclass(frozen=True)
class MemberSeries:
    """A member's (production, consumption) Wh per interval, in interval order."""

    member_id: str
    energy: Sequence[tuple[int, int]]


def community_energy(
    members: Sequence[MemberSeries],
    intervals: int,
    rule: Rule,
    *,
    coefficients: Mapping[str, Fraction] | None = None,
    priority: Sequence[str] = (),
) -> list[IntervalAllocation]:
    out = []
    for index in range(intervals):
        energy = [MemberEnergy(m.member_id, max(0, m.energy[index][0]), max(0, m.energy[index][1])) for m in members]
        out.append(allocate(energy, rule, coefficients=coefficients, priority=priority))
    return out


def co2_avoided_g(local_wh: int, intensity_g_per_kwh: int) -> int:
    return round(Fraction(local_wh * intensity_g_per_kwh, 1000))


@dataclass(frozen=True)
class Summary:
    production: int
    consumption: int
    self_consumed: int
    shared: int
    co2_avoided_g: int

    @property
    def grid_import(self) -> int:
        return self.consumption - self.self_consumed - self.shared

    @property
    def grid_export(self) -> int:
        return self.production - self.self_consumed - self.shared

    @property
    def self_sufficiency(self) -> float | None:
        return (self.self_consumed + self.shared) / self.consumption if self.consumption > 0 else None


def summarize(allocations: Sequence[IntervalAllocation], intensity_g_per_kwh: int) -> Summary:
    production = sum(a.production for a in allocations)
    consumption = sum(a.consumption for a in allocations)
    self_consumed = sum(a.self_consumed for a in allocations)
    shared = sum(a.shared for a in allocations)
    return Summary(
        production, consumption, self_consumed, shared, co2_avoided_g(self_consumed + shared, intensity_g_per_kwh)
    )
