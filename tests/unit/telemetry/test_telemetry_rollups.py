"""Rollup deltas and counter state (gridshare.telemetry.readings): what each reading ADDs to 15m/1h/1d."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.telemetry.readings import (
    COUNTERS,
    RESOLUTIONS,
    SPLIT_CAP_MS,
    CounterState,
    Reading,
    TelemetryValidator,
)
from gridshare.telemetry.rollups import (
    RollupDelta,
    bucket_start,
    counter_state,
    rollup_deltas,
)

DAY = 86_400_000
HOUR = 3_600_000
QUARTER = 900_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, aligned to every resolution
DEVICE = "meter-0001"

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reading(ts: int, seq: int = 1, **metrics: Any) -> Reading:
    return Reading(device_id=DEVICE, ts=ts, seq=seq, metrics=metrics)


def state(ts: int, **counters: int) -> CounterState:
    return CounterState(ts=ts, seq=0, counters=counters)


def energy(deltas: list[RollupDelta], resolution: str, counter: str = "energy_import_wh") -> dict[int, int]:
    """bucket_start -> Wh of one counter at one resolution (only buckets that received energy)."""
    return {
        d.bucket_start: d.energy_wh[counter] for d in deltas if d.resolution == resolution and counter in d.energy_wh
    }


def entry(deltas: list[RollupDelta], resolution: str, start: int) -> RollupDelta:
    (found,) = [d for d in deltas if d.resolution == resolution and d.bucket_start == start]
    return found


# --------------------------------------------------------------------------------------------------
# Buckets
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "resolution", "start"),
    [
        (T0, "15m", T0),
        (T0 + QUARTER - 1, "15m", T0),
        (T0 + QUARTER, "15m", T0 + QUARTER),
        (T0 + 3 * HOUR + 20 * 60_000, "1h", T0 + 3 * HOUR),
        (T0 + DAY - 1, "1d", T0),
        (T0 + DAY, "1d", T0 + DAY),
    ],
)
def test_bucket_start_aligns_to_utc(ts: int, resolution: str, start: int) -> None:
    # Given a timestamp and a resolution
    # When its bucket is computed
    # Then the bucket starts at the aligned UTC boundary at or before it
    assert bucket_start(ts, resolution) == start


def test_an_unknown_resolution_is_refused() -> None:
    # Given a resolution that is not rolled up
    # When its bucket is asked for
    # Then it is a ValueError naming the known ones
    with pytest.raises(ValueError, match="15m, 1h, 1d"):
        bucket_start(T0, "5m")


# --------------------------------------------------------------------------------------------------
# Count and sums in the reading's own buckets
# --------------------------------------------------------------------------------------------------


def test_the_first_reading_counts_and_sums_but_only_sets_the_energy_baseline() -> None:
    # Given a device's first reading with gauges, a flag and counters
    r = reading(T0 + 7 * 60_000, power_w=1500, voltage_v=230.5, leak=True, energy_import_wh=10_000)
    # When its rollup deltas are computed without a previous state
    deltas = rollup_deltas(r, None)
    # Then each resolution gets one entry, count 1, gauge sums and the flag as 1, and no energy
    assert deltas == [
        RollupDelta(res, bucket_start(r.ts, res), 1, {"power_w": 1500.0, "voltage_v": 230.5, "leak": 1.0}, {})
        for res in RESOLUTIONS
    ]


def test_a_false_flag_sums_as_zero_and_counters_are_not_summed() -> None:
    # Given an LPG sensor reading without a leak, and a meter reading with counters only
    gas = reading(T0, gas_level_pct=40, leak=False)
    meter = reading(T0, energy_import_wh=5, energy_export_wh=6)
    # When their deltas are computed
    # Then the flag adds 0 and counters do not appear in the sums
    assert rollup_deltas(gas, None)[0].sums == {"gas_level_pct": 40.0, "leak": 0.0}
    assert [d.sums for d in rollup_deltas(meter, None)] == [{}, {}, {}]
    assert all(isinstance(v, float) for v in rollup_deltas(gas, None)[0].sums.values())


def test_entries_are_ordered_by_resolution_then_time_and_unique() -> None:
    # Given a reading 40 minutes after the previous one, with both counters moving
    r = reading(T0 + HOUR + 10 * 60_000, power_w=1, energy_import_wh=1_000, energy_export_wh=500)
    previous = state(T0 + 30 * 60_000, energy_import_wh=0, energy_export_wh=0)
    # When its deltas are computed
    deltas = rollup_deltas(r, previous)
    # Then each (resolution, bucket) appears once, both counters share entries, in order
    keys = [(d.resolution, d.bucket_start) for d in deltas]
    assert len(keys) == len(set(keys))
    order = list(RESOLUTIONS)
    assert keys == sorted(keys, key=lambda k: (order.index(k[0]), k[1]))
    assert {d.resolution for d in deltas} == set(RESOLUTIONS)
    assert all(set(d.energy_wh) == set(COUNTERS) for d in deltas)


# --------------------------------------------------------------------------------------------------
# Interval energy
# --------------------------------------------------------------------------------------------------


def test_energy_within_one_bucket_goes_to_that_bucket() -> None:
    # Given two readings 5 minutes apart inside the same 15 min interval
    previous = state(T0 + 60_000, energy_import_wh=10_000)
    r = reading(T0 + 6 * 60_000, energy_import_wh=10_125)
    # When the deltas are computed
    deltas = rollup_deltas(r, previous)
    # Then the 125 Wh land in the reading's own bucket at every resolution
    assert [(d.resolution, d.bucket_start, d.count, d.energy_wh) for d in deltas] == [
        ("15m", T0, 1, {"energy_import_wh": 125}),
        ("1h", T0, 1, {"energy_import_wh": 125}),
        ("1d", T0, 1, {"energy_import_wh": 125}),
    ]


def test_energy_is_split_across_buckets_in_proportion_to_time() -> None:
    # Given readings at 00:10 and 00:40: 5 min of interval 00:00, 15 min of 00:15, 10 min of 00:30
    previous = state(T0 + 10 * 60_000, energy_import_wh=0)
    r = reading(T0 + 40 * 60_000, energy_import_wh=3000)
    # When the deltas are computed
    deltas = rollup_deltas(r, previous)
    # Then the 3000 Wh are split 500 / 1500 / 1000; other buckets get count 0 and no sums
    assert energy(deltas, "15m") == {T0: 500, T0 + QUARTER: 1500, T0 + 2 * QUARTER: 1000}
    assert entry(deltas, "15m", T0) == RollupDelta("15m", T0, 0, {}, {"energy_import_wh": 500})
    assert entry(deltas, "15m", T0 + 2 * QUARTER).count == 1
    assert energy(deltas, "1h") == {T0: 3000}
    assert energy(deltas, "1d") == {T0: 3000}


def test_a_split_that_does_not_divide_evenly_uses_the_largest_remainder() -> None:
    # Given 10 Wh over 00:10 -> 00:40 (shares 1.667 / 5 / 3.333)
    previous = state(T0 + 10 * 60_000, energy_import_wh=0)
    r = reading(T0 + 40 * 60_000, energy_import_wh=10)
    # When the deltas are computed
    parts = energy(rollup_deltas(r, previous), "15m")
    # Then floors 1/5/3 leave 1 Wh, which goes to the largest remainder (0.667 of the first bucket)
    assert parts == {T0: 2, T0 + QUARTER: 5, T0 + 2 * QUARTER: 3}
    assert sum(parts.values()) == 10


@pytest.mark.parametrize(("delta", "split"), [(1, (0, 1)), (3, (1, 2)), (4, (2, 2))])
def test_a_tie_between_remainders_goes_to_the_later_bucket(delta: int, split: tuple[int, int]) -> None:
    # Given an interval that is exactly 1 s in each of two 15 min buckets
    previous = state(T0 + QUARTER - 1001, energy_import_wh=100)
    r = reading(T0 + QUARTER + 999, energy_import_wh=100 + delta)
    # When the deltas are computed
    parts = energy(rollup_deltas(r, previous), "15m")
    # Then the odd Wh goes to the later bucket (the reading's), and nothing is lost
    assert (parts.get(T0, 0), parts.get(T0 + QUARTER, 0)) == split


def test_energy_up_to_a_reading_on_a_boundary_belongs_to_the_interval_before() -> None:
    # Given readings at exactly 00:00 and 00:15 (the end of the interval is inclusive, the start exclusive)
    previous = state(T0, energy_import_wh=0)
    r = reading(T0 + QUARTER, power_w=10, energy_import_wh=250)
    # When the deltas are computed
    deltas = rollup_deltas(r, previous)
    # Then all 250 Wh belong to 00:00 (the one ms in 00:15 rounds away) while the count goes to 00:15
    assert energy(deltas, "15m") == {T0: 250}
    assert entry(deltas, "15m", T0 + QUARTER) == RollupDelta("15m", T0 + QUARTER, 1, {"power_w": 10.0}, {})


def test_a_split_across_midnight_feeds_both_days_consistently() -> None:
    # Given readings at 23:50 and 00:20 the next day, 3000 Wh
    previous = state(T0 + DAY - 10 * 60_000, energy_import_wh=0)
    r = reading(T0 + DAY + 20 * 60_000, energy_import_wh=3000)
    # When the deltas are computed
    deltas = rollup_deltas(r, previous)
    # Then 1000 Wh go to the old day and 2000 Wh to the new one, at every resolution
    assert energy(deltas, "15m") == {T0 + DAY - QUARTER: 1000, T0 + DAY: 1500, T0 + DAY + QUARTER: 500}
    assert energy(deltas, "1h") == {T0 + DAY - HOUR: 1000, T0 + DAY: 2000}
    assert energy(deltas, "1d") == {T0: 1000, T0 + DAY: 2000}


def test_gaps_up_to_two_days_are_spread_and_longer_ones_are_not() -> None:
    # Given 192 Wh over exactly 2 days (aligned), and over 2 days + 1 ms
    spread = rollup_deltas(reading(T0 + SPLIT_CAP_MS, energy_import_wh=192), state(T0, energy_import_wh=0))
    lumped = rollup_deltas(reading(T0 + SPLIT_CAP_MS + 1, energy_import_wh=192), state(T0, energy_import_wh=0))
    # When the 15 min energy is looked at
    # Then 2 days spread 1 Wh into each of the 192 intervals; beyond, all goes to the reading's interval
    assert SPLIT_CAP_MS == 2 * DAY
    assert energy(spread, "15m") == {T0 + i * QUARTER: 1 for i in range(192)}
    assert energy(spread, "1d") == {T0: 96, T0 + DAY: 96}
    assert energy(lumped, "15m") == {T0 + SPLIT_CAP_MS: 192}
    assert energy(lumped, "1d") == {T0 + SPLIT_CAP_MS: 192}
    assert len(lumped) == 3


def test_a_late_reading_or_a_duplicate_timestamp_adds_no_energy() -> None:
    # Given a stored state and readings older than it / at the same ts, with lower / equal counters
    previous = state(T0 + HOUR, energy_import_wh=1000)
    late = reading(T0 + 30 * 60_000, power_w=5, energy_import_wh=900)
    same = reading(T0 + HOUR, energy_import_wh=1000)
    # When their deltas are computed
    # Then they count in their own buckets but add no energy (it is already between stored readings)
    assert [(d.bucket_start, d.count, d.energy_wh) for d in rollup_deltas(late, previous)] == [
        (T0 + 2 * QUARTER, 1, {}),
        (T0, 1, {}),
        (T0, 1, {}),
    ]
    assert all(d.energy_wh == {} for d in rollup_deltas(same, previous))


def test_no_energy_for_a_counter_the_state_does_not_have_or_that_did_not_move() -> None:
    # Given a state with only the import counter, and a reading where import did not move
    previous = state(T0, energy_import_wh=1000)
    r = reading(T0 + 40 * 60_000, energy_import_wh=1000, energy_export_wh=50)
    # When the deltas are computed
    deltas = rollup_deltas(r, previous)
    # Then no energy entries at all: export only sets its baseline, import's delta is 0
    assert len(deltas) == 3
    assert all(d.energy_wh == {} for d in deltas)


def test_a_counter_that_went_backwards_is_a_programming_error() -> None:
    # Given a reading that was not validated (counter below the state)
    # When its deltas are computed
    # Then it refuses rather than subtract energy
    with pytest.raises(ValueError, match="validate the reading first"):
        rollup_deltas(reading(T0 + 60_000, energy_import_wh=5), state(T0, energy_import_wh=6))


# --------------------------------------------------------------------------------------------------
# Counter state
# --------------------------------------------------------------------------------------------------


def test_the_first_reading_becomes_the_state() -> None:
    # Given a first reading with one counter
    r = reading(T0, seq=3, power_w=1, energy_import_wh=10)
    # When the state is computed
    # Then it holds the reading's ts, seq and counters (gauges are not state)
    assert counter_state(r, None) == CounterState(T0, 3, {"energy_import_wh": 10})


def test_a_newer_reading_advances_and_carries_missing_counters_forward() -> None:
    # Given a state with both counters and a newer reading with import only
    previous = CounterState(T0, 3, {"energy_import_wh": 10, "energy_export_wh": 20})
    r = reading(T0 + 60_000, seq=4, energy_import_wh=15)
    # When the state is computed
    # Then ts/seq advance, import updates, export is carried forward
    assert counter_state(r, previous) == CounterState(T0 + 60_000, 4, {"energy_import_wh": 15, "energy_export_wh": 20})


@pytest.mark.parametrize("ts", [T0 - 60_000, T0])
def test_a_late_or_same_time_reading_does_not_move_the_state(ts: int) -> None:
    # Given a state and a reading that is not newer
    previous = CounterState(T0, 3, {"energy_import_wh": 10})
    # When the state is computed
    # Then it is unchanged
    assert counter_state(reading(ts, seq=9, energy_import_wh=9), previous) is previous


def test_counter_state_integers_even_from_integral_floats() -> None:
    # Given a reading whose counter is an integral float (as a caller might build it)
    # When the state is computed
    # Then the counter is an int (Wh are integers everywhere)
    value = counter_state(reading(T0, energy_import_wh=12.0), None).counters["energy_import_wh"]
    assert value == 12 and type(value) is int


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------

GAPS = st.one_of(
    st.integers(1, 20 * 60_000),  # typical reporting intervals
    st.integers(1, 20 * 60_000),
    st.integers(1, 6 * HOUR),  # short outages
    st.integers(SPLIT_CAP_MS - HOUR, SPLIT_CAP_MS + HOUR),  # around the cap
)


@st.composite
def monotonic_series(draw: st.DrawFn) -> list[Reading]:
    """Newer-and-newer readings with non-decreasing counters; a counter may be missing from some."""
    ts = draw(st.integers(T0 - 3 * DAY, T0 + 3 * DAY))
    values = dict.fromkeys(COUNTERS, draw(st.integers(0, 10**9)))
    series: list[Reading] = []
    for seq in range(draw(st.integers(2, 12))):
        metrics: dict[str, Any] = {"power_w": float(seq * 100 - 500)}
        missing = draw(st.integers(0, 19))  # 0 or 1: this reading lacks one of the counters
        for i, c in enumerate(COUNTERS):
            values[c] += draw(st.integers(0, 10**6))
            if missing != i:
                metrics[c] = values[c]
        series.append(reading(ts, seq=seq, **metrics))
        ts += draw(GAPS)
    return series


@PROPERTY
@given(series=monotonic_series())
def test_property_energy_is_conserved_at_every_resolution(series: list[Reading]) -> None:
    # Given a random monotonic counter series with random gaps, arriving as messages
    validator = TelemetryValidator(max_future_ms=0, backfill_ms=10**15)
    totals: dict[str, dict[str, int]] = {res: defaultdict(int) for res in RESOLUTIONS}
    buckets: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counts: dict[str, int] = defaultdict(int)
    previous: CounterState | None = None
    # When each is validated against the stored state, its deltas applied and the state advanced
    for r in series:
        payload = {"ts": r.ts, "seq": r.seq, "metrics": r.metrics}
        result = validator.validate(payload, device_id=DEVICE, now_ms=series[-1].ts, previous=previous)
        assert result.ok, result.reasons
        assert result.reading == r
        for d in rollup_deltas(r, previous):
            counts[d.resolution] += d.count
            assert d.count in (0, 1) and (d.count == 1 or d.sums == {})
            for c, wh in d.energy_wh.items():
                assert wh > 0
                totals[d.resolution][c] += wh
                buckets[(d.resolution, d.bucket_start)][c] += wh
        previous = counter_state(r, previous)
    # Then every resolution holds exactly last - first of each counter, and each reading once
    for c in COUNTERS:
        seen = [r.metrics[c] for r in series if c in r.metrics]
        expected = seen[-1] - seen[0] if seen else 0
        assert totals["15m"][c] == totals["1h"][c] == totals["1d"][c] == expected
    assert counts == {res: len(series) for res in RESOLUTIONS}
    # And the rollups are consistent: the finer buckets inside a coarser one add up to it
    for res, size in RESOLUTIONS.items():
        rebuilt: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (fine, start), by_counter in buckets.items():
            if fine == "15m":
                for c, wh in by_counter.items():
                    rebuilt[(res, start - start % size)][c] += wh
        assert {k: dict(v) for k, v in rebuilt.items()} == {k: dict(v) for k, v in buckets.items() if k[0] == res}


@PROPERTY
@given(
    prev_ts=st.integers(T0, T0 + DAY),
    gap=st.integers(1, SPLIT_CAP_MS),
    delta=st.integers(1, 10**7),
)
def test_property_each_part_is_within_one_wh_of_its_exact_share(prev_ts: int, gap: int, delta: int) -> None:
    # Given any interval up to the cap and any energy
    r = reading(prev_ts + gap, energy_import_wh=delta)
    # When it is split into 15 min buckets
    parts = energy(rollup_deltas(r, state(prev_ts, energy_import_wh=0)), "15m")
    # Then parts sum exactly and each is the floor or ceiling of its time-proportional share
    assert sum(parts.values()) == delta
    for start in range(bucket_start(prev_ts + 1, "15m"), r.ts + 1, QUARTER):
        ms = min(start + QUARTER - 1, r.ts) - max(start, prev_ts + 1) + 1
        exact = delta * ms / gap
        assert abs(parts.get(start, 0) - exact) < 1
