"""The vectorised settlement core: rollup items -> each site's metered export/import per interval -> each
trade's delivered Wh, over many meters at once. Pure (numpy only, no AWS).

**Rollup items** are the telemetry rollups as read from the table (``telemetry.models.RollupModel``,
deserialised: plain dicts, numbers as ``int`` or ``Decimal``): ``pk`` = ``<device>#<resolution>``,
``bucket`` = the bucket start (epoch ms), ``e_energy_export_wh`` / ``e_energy_import_wh`` = the counters'
increase attributed to the bucket (Wh; absent when the device did not report that counter: 0). Items of
meters not in the shard's :class:`MeterTable`, and buckets outside the settled range, are left out.

**Decoding** is one C-level pass per field (``map`` of ``itemgetter`` into ``numpy.fromiter``): no Python
code runs per item, which is what makes >= 2,000,000 meter-intervals per second per core possible
(bench/bench_settlement.py).

**Site energy** (:func:`site_energy`) applies :func:`gridshare.sites.energy.figures` per site and interval,
as arrays: each meter's counters are summed by role into production ``P`` (production export), load ``L``
(production import + consumption import), storage discharge/charge, grid import/export. With a grid
meter the site's export and import are the grid meter's; without one the balance ``B = P + S - L``
(``S`` = discharge - charge) gives ``export = max(0, B)``, ``import = max(0, -B)``. A negative delta counts
as 0 (energy is never invented). Sums are exact: per-bucket Wh below 2**40 and at most 2**12 meters per
site keep every sum far below 2**53, the float64 bincount's exact range.

**Delivery** (:func:`deliver`) is :func:`gridshare.settlement.rules.deliveries` over arrays: a seller
site's trades are delivered whole when its net export covers them, else its net export is split pro rata
to their Wh by largest remainder, ties to the earlier trade (trades are passed in trade-id order, so this
is the rules' tie-break by trade id). Property tests check both against the scalar rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter, methodcaller
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CHANNELS",
    "MeterTable",
    "Rollups",
    "SiteEnergy",
    "decode_rollups",
    "deliver",
    "site_energy",
]

I64 = npt.NDArray[np.int64]
EXPORT_KEY, IMPORT_KEY = "e_energy_export_wh", "e_energy_import_wh"
ROLE_CODES: Mapping[str, int] = {"production": 0, "consumption": 1, "storage": 2, "grid_meter": 3}
CHANNELS = ("production", "load", "discharge", "charge", "grid_import", "grid_export", "ignored")
# role code -> (channel of its export counter, channel of its import counter)
_ROLE_CHANNELS = np.array([[0, 1], [6, 1], [2, 3], [5, 4]], dtype=np.int64)
_N_CH = len(CHANNELS)


class _Index(dict[str, int]):
    """pk -> meter index; an unknown pk (a meter of another shard) is -1, without a Python branch per hit."""

    def __missing__(self, key: str) -> int:
        return -1


@dataclass(frozen=True)
class MeterTable:
    """The meters of a shard: rollup pk -> meter index, and per meter its site index and role code."""

    pks: Mapping[str, int]
    site: I64
    role: I64
    site_ids: tuple[str, ...]
    resolution: str = "15m"

    @classmethod
    def build(cls, meters: Sequence[tuple[str, str, str]], *, resolution: str = "15m") -> MeterTable:
        """From ``(device id, site id, role)`` per attached device; sites are indexed in sorted id order."""
        site_ids = tuple(sorted({site for _, site, _ in meters}))
        site_index = {s: n for n, s in enumerate(site_ids)}
        pks: dict[str, int] = {}
        for n, (device, _, _) in enumerate(meters):
            key = f"{device}#{resolution}"
            if key in pks:
                raise ValueError(f"device {device} is attached twice")
            pks[key] = n
        try:
            roles = [ROLE_CODES[role] for _, _, role in meters]
        except KeyError as exc:
            raise ValueError(f"unknown device role {exc.args[0]!r}") from None
        return cls(
            pks,
            np.array([site_index[s] for _, s, _ in meters], dtype=np.int64),
            np.array(roles, dtype=np.int64),
            site_ids,
            resolution,
        )

    def has_role(self, role: str) -> npt.NDArray[np.bool_]:
        """Per site: whether a meter of ``role`` is attached."""
        out = np.zeros(len(self.site_ids), dtype=bool)
        out[self.site[self.role == ROLE_CODES[role]]] = True
        return out


@dataclass(frozen=True)
class Rollups:
    """Decoded rollup items, one row per item of a known meter: meter index, bucket start, Wh out / in."""

    meter: I64
    bucket: I64
    export_wh: I64
    import_wh: I64


def _ints(items: Sequence[Mapping[str, Any]], key: str, n: int) -> I64:
    """One field of every item as int64; a missing field is 0 (the slower ``dict.get`` pass only then)."""
    try:
        return np.fromiter(map(itemgetter(key), items), dtype=np.int64, count=n)
    except KeyError:
        return np.fromiter(map(methodcaller("get", key, 0), items), dtype=np.int64, count=n)


def decode_rollups(items: Sequence[Mapping[str, Any]], table: MeterTable) -> Rollups:
    """Rollup items (dicts) -> arrays, items of meters outside ``table`` dropped (see the module docstring)."""
    n = len(items)
    try:  # a plain dict's lookup is the fast path; a pk of another shard falls back to -1 for unknowns
        meter = np.fromiter(map(table.pks.__getitem__, map(itemgetter("pk"), items)), dtype=np.int64, count=n)
    except KeyError:
        lookup = _Index(table.pks).__getitem__
        meter = np.fromiter(map(lookup, map(itemgetter("pk"), items)), dtype=np.int64, count=n)
    bucket = _ints(items, "bucket", n)
    export_wh = _ints(items, EXPORT_KEY, n)
    import_wh = _ints(items, IMPORT_KEY, n)
    known = meter >= 0
    if not known.all():
        meter, bucket, export_wh, import_wh = meter[known], bucket[known], export_wh[known], import_wh[known]
    return Rollups(meter, bucket, export_wh, import_wh)


@dataclass(frozen=True)
class SiteEnergy:
    """Per site (rows, :attr:`MeterTable.site_ids` order) and interval (columns): metered Wh."""

    start: int
    interval_ms: int
    export_wh: I64
    import_wh: I64

    @property
    def net_export(self) -> I64:
        out: I64 = np.maximum(self.export_wh - self.import_wh, 0)
        return out

    @property
    def net_import(self) -> I64:
        out: I64 = np.maximum(self.import_wh - self.export_wh, 0)
        return out

    def readings(self, site_ids: Sequence[str]) -> dict[int, dict[str, tuple[int, int]]]:
        """Interval start -> site id -> (export Wh, import Wh), the figures ``rules.Site`` takes;
        ``site_ids`` are the rows' ids (:attr:`MeterTable.site_ids`)."""
        exported, imported = self.export_wh.tolist(), self.import_wh.tolist()
        return {
            self.start + k * self.interval_ms: {
                site: (exported[row][k], imported[row][k]) for row, site in enumerate(site_ids)
            }
            for k in range(self.export_wh.shape[1])
        }


def site_energy(
    rollups: Rollups, table: MeterTable, *, start: int, intervals: int, interval_ms: int = 900_000
) -> SiteEnergy:
    """Each site's export and import per interval of ``[start, start + intervals * interval_ms)``."""
    n_sites = len(table.site_ids)
    meter, slot = rollups.meter, (rollups.bucket - start) // interval_ms
    exported, imported = rollups.export_wh, rollups.import_wh
    if len(slot) and (slot.min() < 0 or slot.max() >= intervals):
        inside = (slot >= 0) & (slot < intervals)
        meter, slot, exported, imported = meter[inside], slot[inside], exported[inside], imported[inside]
    # per meter: where its export and import land in the (site, interval, channel) cube, interval 0
    channels = _ROLE_CHANNELS[table.role]
    base = table.site * (intervals * _N_CH)
    offset = slot * _N_CH
    size = n_sites * intervals * _N_CH
    sums = np.bincount((base + channels[:, 0])[meter] + offset, weights=np.maximum(exported, 0), minlength=size)
    sums += np.bincount((base + channels[:, 1])[meter] + offset, weights=np.maximum(imported, 0), minlength=size)
    by = np.rint(sums).astype(np.int64).reshape(n_sites, intervals, _N_CH)
    production, load, discharge, charge, grid_import, grid_export = (by[:, :, c] for c in range(6))
    balance = production + discharge - charge - load
    grid = table.has_role("grid_meter")[:, None]
    export_wh = np.where(grid, grid_export, np.maximum(balance, 0))
    import_wh = np.where(grid, grid_import, np.maximum(-balance, 0))
    return SiteEnergy(start, interval_ms, export_wh, import_wh)


def deliver(net_export: I64, seller_site: I64, energy_wh: I64) -> I64:
    """Delivered Wh per trade: ``net_export[site]`` (Wh per seller site, one interval) shared among the
    site's trades (``seller_site``, ``energy_wh``, in trade-id order) by the rules (module docstring)."""
    if len(energy_wh) == 0:
        return np.zeros(0, dtype=np.int64)
    sold = np.bincount(seller_site, weights=energy_wh, minlength=len(net_export)).astype(np.int64)
    have = net_export[seller_site]
    total = sold[seller_site]
    short = have < total
    numerator = have * energy_wh
    out = np.where(short, numerator // np.maximum(total, 1), energy_wh)
    if not short.any():
        return out
    remainder = np.where(short, numerator % np.maximum(total, 1), -1)
    leftover = net_export - np.bincount(seller_site, weights=out, minlength=len(net_export)).astype(np.int64)
    # rank each short trade within its site: largest remainder first, then position (trade-id order)
    position = np.arange(len(energy_wh))
    order = np.lexsort((position, -remainder, seller_site))
    site_sorted = seller_site[order]
    first = np.searchsorted(site_sorted, site_sorted, side="left")
    rank = np.empty_like(position)
    rank[order] = position - first
    out += (short & (rank < leftover[seller_site])).astype(np.int64)
    return out
