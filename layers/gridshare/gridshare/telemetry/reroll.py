"""Telemetry domain: rollups recomputed from raw readings (the rollup job's core; decision 0016).

Pure Python, no AWS imports. Where the per-reading path ADDs each reading's :func:`rollup_deltas` into
its buckets as it arrives, :func:`fold` recomputes a device's 15-minute buckets from the raw readings of
a span, in (ts, seq) order, each (ts, seq) once, starting from the counter state just before the span;
:func:`coarsen` sums them up into 1 h and 1 d buckets. A recomputation is a plain overwrite of the
buckets it covers, so running it twice (a retried job, a redelivered reading) gives the same items.

For readings that arrive in time order this is exactly what the ADDs give (tests/unit/telemetry prove
it against the ADD path as oracle). For late or out-of-order readings it is order-independent: each
counter's energy is spread between its true neighbours in time, and the energy of a span is exactly
the counter difference between its first and last reading, whichever arrived first.

Sums of gauges are exact decimals (as DynamoDB's ADD keeps them), so the order of addition does not
change a bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec

from gridshare.telemetry.readings import RESOLUTIONS, CounterState, Reading
from gridshare.telemetry.rollups import counter_state, rollup_deltas

FINEST = "15m"
FINEST_MS = RESOLUTIONS[FINEST]


class BucketTotals(msgspec.Struct):
    """One rollup bucket: readings `n`, exact sum and count per gauge/flag, interval energy per counter."""

    n: int = 0
    sums: dict[str, Decimal] = msgspec.field(default_factory=dict)
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    energy: dict[str, int] = msgspec.field(default_factory=dict)

    def add(self, other: BucketTotals) -> None:
        self.n += other.n
        for name, value in other.sums.items():
            self.sums[name] = self.sums.get(name, Decimal(0)) + value
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        for name, wh in other.energy.items():
            self.energy[name] = self.energy.get(name, 0) + wh


def decimal(value: float) -> Decimal:
    """A gauge's value as DynamoDB stores it: the decimal of its shortest text."""
    return Decimal(repr(float(value)))


def ordered(readings: Iterable[Reading]) -> list[Reading]:
    """Readings in (ts, seq) order, each (ts, seq) once (a redelivery stores the same raw item)."""
    unique: dict[tuple[int, int], Reading] = {}
    for reading in readings:
        unique.setdefault((reading.ts, reading.seq), reading)
    return [unique[key] for key in sorted(unique)]


def fold(
    readings: Iterable[Reading], before: CounterState | None
) -> tuple[dict[int, BucketTotals], CounterState | None]:
    """The 15-minute buckets the readings fill (bucket start -> totals) and the counter state after them.

    `before` is the device's counter state just before the first reading (None: the first reading is
    the baseline). Buckets before the first reading that receive spread energy are included: the caller
    overwrites every bucket it recomputed whole and adds nothing to a bucket it did not.
    """
    buckets: dict[int, BucketTotals] = {}
    state = before
    for reading in ordered(readings):
        for delta in rollup_deltas(reading, state):
            if delta.resolution != FINEST:
                continue
            bucket = buckets.get(delta.bucket_start)
            if bucket is None:
                bucket = buckets[delta.bucket_start] = BucketTotals()
            bucket.n += delta.count
            for name, value in delta.sums.items():
                bucket.sums[name] = bucket.sums.get(name, Decimal(0)) + decimal(value)
                bucket.counts[name] = bucket.counts.get(name, 0) + delta.count
            for name, wh in delta.energy_wh.items():
                bucket.energy[name] = bucket.energy.get(name, 0) + wh
        state = counter_state(reading, state)
    return buckets, state


def coarsen(fine: Mapping[int, BucketTotals], resolution: str) -> dict[int, BucketTotals]:
    """The `resolution` buckets (1h, 1d, or 15m itself) that the 15-minute buckets add up to."""
    size = RESOLUTIONS[resolution]
    out: dict[int, BucketTotals] = {}
    for start in sorted(fine):
        key = start - start % size
        bucket = out.get(key)
        if bucket is None:
            bucket = out[key] = BucketTotals()
        bucket.add(fine[start])
    return out


def affected_span(ts: int, previous_ts: int | None, next_ts: int | None, split_cap_ms: int) -> tuple[int, int]:
    """The 15-minute bucket starts [first, last] whose totals a reading at `ts` can change.

    A reading fills its own bucket, takes the energy between its predecessor and itself (spread back
    over (previous_ts, ts] unless the gap passes the cap) and changes its successor's share the same way
    (over (ts, next_ts]). A job that re-rolls after a late reading recomputes at least this span.
    """
    first = last = ts - ts % FINEST_MS
    if previous_ts is not None and ts - previous_ts <= split_cap_ms:
        first = min(first, (previous_ts + 1) - (previous_ts + 1) % FINEST_MS)
    if next_ts is not None:
        last = max(last, next_ts - next_ts % FINEST_MS)
    return first, last
