"""Rollups recomputed from raw readings (gridshare.telemetry.reroll) against the per-reading ADD path.

The oracle is the path of decision 0003: each reading, in arrival order and once per (ts, seq), ADDs
its `rollup_deltas` into the 15m, 1h and 1d buckets, against the counter state the readings before it
left. The recomputation must give the same buckets for every stream that arrives in time order (with
duplicates and gaps), and for late and out-of-order streams the same counts and sums, the energy the
counters say, and one answer whatever the arrival order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.telemetry.readings import RESOLUTIONS, SPLIT_CAP_MS, CounterState, Reading
from gridshare.telemetry.reroll import BucketTotals, affected_span, coarsen, decimal, fold, ordered
from gridshare.telemetry.rollups import counter_state, rollup_deltas

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
QUARTER = 900_000
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def oracle(arrivals: list[Reading]) -> dict[str, dict[int, BucketTotals]]:
    """The ADD path: per resolution, bucket -> totals, readings applied in arrival order, duplicates once."""
    out: dict[str, dict[int, BucketTotals]] = {res: {} for res in RESOLUTIONS}
    seen: set[tuple[int, int]] = set()
    state: CounterState | None = None
    for reading in arrivals:
        if (reading.ts, reading.seq) in seen:
            continue
        seen.add((reading.ts, reading.seq))
        for delta in rollup_deltas(reading, state):
            bucket = out[delta.resolution].setdefault(delta.bucket_start, BucketTotals())
            bucket.n += delta.count
            for name, value in delta.sums.items():
                bucket.sums[name] = bucket.sums.get(name, Decimal(0)) + decimal(value)
                bucket.counts[name] = bucket.counts.get(name, 0) + delta.count
            for name, wh in delta.energy_wh.items():
                bucket.energy[name] = bucket.energy.get(name, 0) + wh
        state = counter_state(reading, state)
    return out


def recomputed(arrivals: list[Reading]) -> dict[str, dict[int, BucketTotals]]:
    fine, _ = fold(arrivals, None)
    return {res: coarsen(fine, res) for res in RESOLUTIONS}


def _plain(buckets: dict[int, BucketTotals]) -> dict[int, Any]:
    return {k: (b.n, b.sums, b.counts, {m: wh for m, wh in b.energy.items() if wh}) for k, b in buckets.items()}


@st.composite
def streams(draw: st.DrawFn) -> list[Reading]:
    """A meter's readings in time order: gaps from a second to past the split cap, a counter that only
    grows (sometimes absent), a gauge and a flag; seq in time order."""
    count = draw(st.integers(1, 25))
    gaps = draw(
        st.lists(
            st.one_of(
                st.integers(1_000, 20 * 60_000),
                st.integers(20 * 60_000, 6 * 3_600_000),
                st.just(SPLIT_CAP_MS + QUARTER),
            ),
            min_size=count,
            max_size=count,
        )
    )
    ts = T0 + draw(st.integers(0, 2 * QUARTER))
    energy = draw(st.integers(0, 10**6))
    readings = []
    for i, gap in enumerate(gaps):
        ts += gap
        energy += draw(st.integers(0, 5_000))
        metrics: dict[str, float | int | bool] = {
            "power_w": draw(st.floats(-5_000, 5_000, allow_nan=False).map(lambda v: round(v, 3))),
            "relay_on": draw(st.booleans()),
        }
        if draw(st.integers(0, 9)):  # now and then a reading without the counter
            metrics["energy_import_wh"] = energy
        readings.append(Reading(device_id="meter", ts=ts, seq=i, metrics=metrics))
    return readings


def _with_duplicates(draw: st.DrawFn, readings: list[Reading]) -> list[Reading]:
    out = []
    for reading in readings:
        out.append(reading)
        if draw(st.integers(0, 4)) == 0:
            out.append(reading)
    return out


@PROPERTY
@given(st.data())
def test_in_order_streams_roll_up_exactly_as_the_add_path(data: st.DataObject) -> None:
    arrivals = _with_duplicates(data.draw, data.draw(streams()))
    old, new = oracle(arrivals), recomputed(arrivals)
    for res in RESOLUTIONS:
        assert _plain(new[res]) == _plain(old[res]), res


@PROPERTY
@given(st.data())
def test_late_and_out_of_order_streams_keep_counts_sums_and_the_counters_energy(data: st.DataObject) -> None:
    readings = data.draw(streams())
    arrivals = data.draw(st.permutations(_with_duplicates(data.draw, readings)))
    old, new = oracle(arrivals), recomputed(arrivals)
    # one answer whatever the arrival order
    assert {res: _plain(b) for res, b in new.items()} == {res: _plain(b) for res, b in recomputed(readings).items()}
    for res in RESOLUTIONS:
        assert {k: (b.n, b.sums, b.counts) for k, b in new[res].items() if b.n} == {
            k: (b.n, b.sums, b.counts) for k, b in old[res].items() if b.n
        }
    # the energy is exactly what the counter says between its first and last reading
    carrying = [r for r in ordered(readings) if "energy_import_wh" in r.metrics]
    total = sum(b.energy.get("energy_import_wh", 0) for b in new["1d"].values())
    expected = (
        int(carrying[-1].metrics["energy_import_wh"]) - int(carrying[0].metrics["energy_import_wh"]) if carrying else 0
    )
    assert total == expected
    # the ADD path loses what came before its first arrival; it never counts more
    old_total = sum(b.energy.get("energy_import_wh", 0) for b in old["1d"].values())
    assert old_total <= total


@PROPERTY
@given(streams())
def test_finer_buckets_add_up_to_coarser_ones(readings: list[Reading]) -> None:
    new = recomputed(readings)
    for finer, coarser in (("15m", "1h"), ("1h", "1d")):
        assert _plain(coarsen(new[finer], coarser)) == _plain(new[coarser])


@PROPERTY
@given(streams(), st.data())
def test_a_span_recomputed_from_the_state_before_it_matches_the_whole_fold(
    readings: list[Reading], data: st.DataObject
) -> None:
    """What the job does: re-roll only the buckets from one reading on, starting from the state the
    readings before it leave; the buckets from the split reading's span on equal the whole fold's."""
    split = data.draw(st.integers(0, len(readings) - 1))
    whole, _ = fold(readings, None)
    _, before = fold(readings[:split], None)
    part, _ = fold(readings[split:], before)
    previous_ts = readings[split - 1].ts if split else None
    first, _ = affected_span(readings[split].ts, previous_ts, None, SPLIT_CAP_MS)
    for start, bucket in part.items():
        assert start >= first
        if start > (previous_ts or 0):
            assert _plain({start: bucket}) == _plain({start: whole[start]})


def test_affected_span_covers_the_spread_to_both_neighbours() -> None:
    ts = T0 + 5 * QUARTER + 10
    assert affected_span(ts, None, None, SPLIT_CAP_MS) == (T0 + 5 * QUARTER, T0 + 5 * QUARTER)
    assert affected_span(ts, T0 + QUARTER + 1, T0 + 9 * QUARTER, SPLIT_CAP_MS) == (T0 + QUARTER, T0 + 9 * QUARTER)
    # past the cap the predecessor's gap is not spread: the reading's own bucket only
    assert affected_span(ts, ts - SPLIT_CAP_MS - 1, None, SPLIT_CAP_MS)[0] == T0 + 5 * QUARTER
