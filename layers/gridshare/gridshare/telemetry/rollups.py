"""Telemetry domain: the rollup deltas and counter state an accepted reading produces.

Pure Python, no AWS imports. For an accepted :class:`~gridshare.telemetry.readings.Reading`, the ingest
service writes the latest state (:func:`counter_state`) and the rollups (:func:`rollup_deltas`, each entry
one atomic DynamoDB ``ADD``). A counter's energy since the previous reading is spread over the 15-minute
buckets it spans (up to :data:`~gridshare.telemetry.readings.SPLIT_CAP_MS`), so counter-delta energy is
exact across bucket edges. Records are frozen msgspec Structs whose dicts are shared, not copied: treat
them as read-only.
"""

from __future__ import annotations

import msgspec

from gridshare.telemetry.readings import COUNTERS, METRICS, RESOLUTIONS, SPLIT_CAP_MS, CounterState, Reading


class RollupDelta(msgspec.Struct, frozen=True):
    """What one reading adds to one rollup bucket (applied with an atomic DynamoDB ADD).

    ``count`` and ``sums`` (gauges, and flags as 0/1) give averages as sum / count; ``energy_wh`` is the
    interval energy attributed to the bucket, keyed by counter name.
    """

    resolution: str
    bucket_start: int
    count: int
    sums: dict[str, float]
    energy_wh: dict[str, int]


_FINEST = min(RESOLUTIONS, key=RESOLUTIONS.__getitem__)
_FINEST_MS = RESOLUTIONS[_FINEST]
_RESOLUTION_SIZES: tuple[tuple[str, int], ...] = tuple(sorted(RESOLUTIONS.items(), key=lambda item: item[1]))
_KINDS: dict[str, str] = {name: m.kind for name, m in METRICS.items()}
if any(ms % _FINEST_MS for ms in RESOLUTIONS.values()):  # pragma: no cover - guards an edit of RESOLUTIONS
    raise ValueError("every rollup resolution must be a multiple of the finest one")


def bucket_start(ts: int, resolution: str) -> int:
    """Start (epoch ms, UTC-aligned) of the ``resolution`` bucket that contains ``ts``."""
    try:
        size = RESOLUTIONS[resolution]
    except KeyError:
        raise ValueError(f"unknown resolution {resolution!r}; expected one of {', '.join(RESOLUTIONS)}") from None
    return ts - ts % size


def _split_energy(delta: int, prev_ts: int, ts: int) -> dict[int, int]:
    """Split ``delta`` Wh over the finest buckets covering the ms ticks ``(prev_ts, ts]``.

    Each bucket's weight is the number of milliseconds of the interval it holds; parts are integers that
    sum exactly to ``delta`` (largest remainder; ties go to the later bucket, i.e. towards the reading).
    """
    first = bucket_start(prev_ts + 1, _FINEST)
    last = bucket_start(ts, _FINEST)
    if first == last:
        return {last: delta}
    total = ts - prev_ts
    parts: dict[int, int] = {}
    remainders: list[tuple[int, int]] = []
    allotted = 0
    for start in range(first, last + 1, _FINEST_MS):
        weight = min(start + _FINEST_MS - 1, ts) - max(start, prev_ts + 1) + 1
        share, remainder = divmod(delta * weight, total)
        parts[start] = share
        allotted += share
        remainders.append((remainder, start))
    remainders.sort(reverse=True)  # largest remainder first; on a tie, the later bucket first
    for _, start in remainders[: delta - allotted]:
        parts[start] += 1
    return parts


def rollup_deltas(reading: Reading, previous: CounterState | None) -> list[RollupDelta]:
    """The ADDs one accepted reading makes to the 15 min, 1 h and 1 day rollups.

    Every resolution gets ``count=1`` and the gauge/flag sums in the reading's own bucket. Energy is the
    increase of each cumulative counter since ``previous`` (only when the reading is newer than it: the
    first reading only sets the baseline and a late reading's energy is already accounted for by its
    neighbours). That interval energy belongs to the time between the two readings, so it is spread over
    the buckets of ``(previous.ts, reading.ts]`` in proportion to time: a meter that reports every 20
    minutes still fills every 15 min settlement interval.

    The split is made on the 15 min buckets (settlement's intervals get the exact largest-remainder
    apportionment) and summed up into the 1 h and 1 day buckets, so the rollups stay consistent with each
    other: the 15 min buckets of an hour add up to that hour, the hours of a day to that day.

    Gaps longer than :data:`SPLIT_CAP_MS` (2 days) are not spread: the whole delta goes to the reading's
    bucket. After a long outage nothing is known about when the energy flowed, so an even spread would
    invent a flat profile, write it into intervals that settlement has already closed, and cost one
    write per 15 min bucket of the gap (192 for 2 days, unbounded beyond). A spike at reconnection is
    honest, bounded, and easy to spot.

    ADDs are not idempotent: the caller applies them once per reading, after discarding duplicate
    deliveries (same ts and seq). Averages are ``sums[m] / count``, which assumes a device sends the same
    metrics in every reading.

    Raises ValueError if a counter went backwards: validate the reading first.
    """
    ts = reading.ts
    metrics = reading.metrics
    sums: dict[str, float] = {}
    for name, value in metrics.items():
        kind = _KINDS.get(name)
        if kind == "gauge":
            sums[name] = float(value)
        elif kind == "flag":
            sums[name] = 1.0 if value else 0.0

    own_fine = ts - ts % _FINEST_MS
    energy: dict[str, int] = {}  # interval energy that lands in the reading's own finest bucket
    fine: dict[int, dict[str, int]] | None = None  # finest bucket -> counter -> Wh, once spread wider
    if previous is not None and ts > previous.ts:
        prev_ts = previous.ts
        # Usually the previous reading is in the same finest bucket (or the gap is past the cap): then
        # every counter's energy goes to the reading's own bucket and nothing needs spreading.
        spread = prev_ts + 1 < own_fine and ts - prev_ts <= SPLIT_CAP_MS
        before = previous.counters
        for name in COUNTERS:
            if name not in metrics or name not in before:
                continue
            delta = int(metrics[name]) - before[name]
            if delta < 0:
                raise ValueError(
                    f"{name} went backwards from {before[name]} to {metrics[name]} Wh; validate the reading first"
                )
            if delta == 0:
                continue
            if not spread:
                energy[name] = delta
                continue
            if fine is None:
                fine = {}
            for start, wh in _split_energy(delta, prev_ts, ts).items():
                if wh:
                    fine.setdefault(start, {})[name] = wh

    if fine is None:  # one bucket per resolution, sharing `sums` and `energy`
        return [RollupDelta(res, ts - ts % size, 1, sums, energy) for res, size in _RESOLUTION_SIZES]
    deltas: list[RollupDelta] = []
    for res, size in _RESOLUTION_SIZES:  # finest first; within a resolution, buckets in time order
        own = ts - ts % size
        buckets: dict[int, dict[str, int]] = {own: {}}
        for fine_start, fine_parts in fine.items():
            slot = buckets.setdefault(fine_start - fine_start % size, {})
            for metric, wh in fine_parts.items():
                slot[metric] = slot.get(metric, 0) + wh
        for start in sorted(buckets) if len(buckets) > 1 else buckets:
            if start == own:
                deltas.append(RollupDelta(res, start, 1, sums, buckets[start]))
            else:
                deltas.append(RollupDelta(res, start, 0, {}, buckets[start]))
    return deltas


def counter_state(reading: Reading, previous: CounterState | None) -> CounterState:
    """The device's latest state after storing ``reading``.

    It only advances for a newer reading (a late one changes nothing); counters the reading does not
    carry keep their previous value, so a meter that alternates metric sets keeps both baselines.
    """
    ts = reading.ts
    if previous is not None and ts <= previous.ts:
        return previous
    metrics = reading.metrics
    counters = dict(previous.counters) if previous is not None else {}
    for name in COUNTERS:  # a loop, not a comprehension: no function frame per reading on Python 3.11
        if name in metrics:
            counters[name] = int(metrics[name])
    return CounterState(ts, reading.seq, counters)
