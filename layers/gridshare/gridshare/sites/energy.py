"""A site's energy per interval, from its meters' counter deltas. Pure: no AWS, no clock.

**Inputs.** Each attached device has a role and, per rollup bucket, the interval energy of its cumulative
counters in Wh (telemetry's rollups: ``e_<counter>``, the counter's increase attributed to the bucket).
The counters are ``energy_import_wh`` (energy into the device from its side of the wiring) and
``energy_export_wh`` (energy out of it). Which counter of which role feeds which figure:

| role | ``energy_export_wh`` | ``energy_import_wh`` |
|---|---|---|
| ``production`` (inverter / generator meter) | production | consumption (the inverter's own draw) |
| ``consumption`` (load meter) | ignored | consumption |
| ``storage`` (battery meter) | discharge | charge |
| ``grid_meter`` (point of connection) | export | import |

**Figures per interval** (all Wh, integers, never negative). ``P`` production, ``L`` measured load,
``S`` = discharge - charge (the battery's net contribution):

- with a grid meter: ``export``, ``import`` as metered; ``consumption`` = ``L`` if a consumption meter is
  attached, else the energy balance ``max(0, P + import - export + S)``;
- without one: ``consumption`` = ``L``; the balance ``B = P + S - L`` gives ``export = max(0, B)``,
  ``import = max(0, -B)``;
- ``selfConsumption`` = ``P - export`` clamped to ``[0, min(P, consumption)]``: produced and used on site;
- ``selfSufficiency`` = ``selfConsumption / consumption`` (0..1), null when nothing was consumed.

Totals are the sums of the intervals (their ``selfSufficiency`` the ratio of the summed figures).

**Resets and gaps.** Telemetry refuses a counter that goes backwards (a reset is dead-lettered, never a
negative delta), so rollup deltas are >= 0; a negative delta reaching this module anyway counts as 0:
energy is never invented. A gap (a bucket no meter reported) is 0 Wh; when a meter reports after an
outage, telemetry spreads the energy across the gap's buckets, so totals stay right.

**Intervals.** ``15m`` and ``1h`` intervals are UTC-aligned (as the rollups are). ``1d`` intervals are the
site's local days (midnight to midnight in its IANA time zone: 23 or 25 hours on a DST change), summed
from hourly buckets, or from 15-minute buckets where a local midnight is not on a whole UTC hour.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

Role = Literal["production", "consumption", "storage", "grid_meter"]
ROLES: tuple[Role, ...] = ("production", "consumption", "storage", "grid_meter")
Resolution = Literal["15m", "1h", "1d"]
RESOLUTION_MS: dict[str, int] = {"15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}
IMPORT, EXPORT = "energy_import_wh", "energy_export_wh"

__all__ = [
    "EXPORT",
    "IMPORT",
    "RESOLUTION_MS",
    "ROLES",
    "Figures",
    "MeterSeries",
    "Resolution",
    "Role",
    "figures",
    "interval_starts",
    "site_energy",
    "source_resolution",
    "totals",
]


@dataclass(frozen=True)
class MeterSeries:
    """One attached device: its role and, per rollup bucket start (epoch ms), counter -> Wh in the bucket."""

    role: Role
    buckets: Mapping[int, Mapping[str, int]]


@dataclass(frozen=True)
class Figures:
    """A site's energy in one interval (or a total), in Wh."""

    production: int
    consumption: int
    export: int
    import_: int
    self_consumption: int

    @property
    def self_sufficiency(self) -> float | None:
        return self.self_consumption / self.consumption if self.consumption > 0 else None


@dataclass(frozen=True)
class _Sums:
    production: int = 0
    load: int = 0
    charge: int = 0
    discharge: int = 0
    grid_import: int = 0
    grid_export: int = 0


def _wh(value: int) -> int:
    return value if value > 0 else 0  # a negative delta (a reset that slipped through) is no energy


def figures(
    readings: Iterable[tuple[Role, Mapping[str, int]]], *, has_grid_meter: bool, has_load_meter: bool
) -> Figures:
    """The figures of one interval from each meter's (role, counter -> Wh) (see the module docstring)."""
    production = load = charge = discharge = grid_import = grid_export = 0
    for role, counters in readings:
        imported, exported = _wh(int(counters.get(IMPORT, 0))), _wh(int(counters.get(EXPORT, 0)))
        if role == "production":
            production += exported
            load += imported
        elif role == "consumption":
            load += imported
        elif role == "storage":
            discharge += exported
            charge += imported
        else:
            grid_import += imported
            grid_export += exported
    storage_net = discharge - charge
    if has_grid_meter:
        export, import_ = grid_export, grid_import
        consumption = load if has_load_meter else max(0, production + import_ - export + storage_net)
    else:
        consumption = load
        balance = production + storage_net - load
        export, import_ = max(0, balance), max(0, -balance)
    self_consumption = min(max(0, production - export), production, consumption)
    return Figures(production, consumption, export, import_, self_consumption)


def _zone(timezone: str) -> ZoneInfo:
    # zoneinfo on first use: it imports sysconfig for its search path, which the settlement tasks, importing
    # the sites service for its reads, never need
    from zoneinfo import ZoneInfo

    return ZoneInfo(timezone)


def _local_midnight(ts: int, zone: ZoneInfo) -> int:
    local = datetime.fromtimestamp(ts / 1000, tz=UTC).astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return int(midnight.timestamp() * 1000)


def _next_local_midnight(start: int, zone: ZoneInfo) -> int:
    local = datetime.fromtimestamp(start / 1000, tz=UTC).astimezone(zone)
    day = local.date() + timedelta(days=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def interval_starts(start: int, end: int, resolution: Resolution, timezone: str) -> list[int]:
    """Starts (epoch ms) of the intervals that cover [start, end): UTC-aligned for 15m/1h, local days for 1d."""
    if resolution == "1d":
        zone = _zone(timezone)
        out, at = [], _local_midnight(start, zone)
        while at < end:
            out.append(at)
            at = _next_local_midnight(at, zone)
        return out
    size = RESOLUTION_MS[resolution]
    first = start - start % size
    return list(range(first, end, size))


def source_resolution(resolution: Resolution, starts: Sequence[int]) -> str:
    """The rollup resolution to read: the interval's own, or for local days 1h (15m where a local midnight
    falls off a whole UTC hour, e.g. UTC+05:30)."""
    if resolution != "1d":
        return resolution
    return "1h" if all(s % RESOLUTION_MS["1h"] == 0 for s in starts) else "15m"


def site_energy(meters: Sequence[MeterSeries], starts: Sequence[int], end: int) -> list[tuple[int, int, Figures]]:
    """(start, end, figures) of each interval: every bucket of every meter is summed into the interval that
    holds its start; buckets outside [starts[0], end) are left out."""
    has_grid = any(m.role == "grid_meter" for m in meters)
    has_load = any(m.role == "consumption" for m in meters)
    # interval index -> meter index -> counter -> Wh
    summed: list[list[dict[str, int]]] = [[{} for _ in meters] for _ in starts]
    for number, meter in enumerate(meters):
        for bucket, counters in meter.buckets.items():
            if not starts or bucket < starts[0] or bucket >= end:
                continue
            slot = summed[bisect_right(starts, bucket) - 1][number]
            for name, wh in counters.items():
                slot[name] = slot.get(name, 0) + _wh(int(wh))
    bounds = [*starts[1:], end]
    return [
        (
            first,
            last,
            figures(
                [(meter.role, summed[index][number]) for number, meter in enumerate(meters)],
                has_grid_meter=has_grid,
                has_load_meter=has_load,
            ),
        )
        for index, (first, last) in enumerate(zip(starts, bounds, strict=True))
    ]


def totals(intervals: Iterable[Figures]) -> Figures:
    production = consumption = export = import_ = self_consumption = 0
    for f in intervals:
        production += f.production
        consumption += f.consumption
        export += f.export
        import_ += f.import_
        self_consumption += f.self_consumption
    return Figures(production, consumption, export, import_, self_consumption)
