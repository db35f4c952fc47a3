"""The stored rollups of decision 0016: hour and day items round-trip exactly, and the rules that say which
hours the job may store and which readings ingest marks late."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.telemetry.readings import SPLIT_CAP_MS
from gridshare.telemetry.reroll import FINEST_MS, BucketTotals
from gridshare.telemetry.rollup_items import (
    DAY_MS,
    HOUR_MS,
    days_closed_by,
    decode_day,
    decode_hour,
    encode_day,
    encode_hour,
    final_end,
    is_late,
    runs,
    total,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NAMES = st.sampled_from(["power_w", "voltage_v", "soc_pct", "energy_import_wh", "energy_export_wh"])
totals = st.builds(
    BucketTotals,
    n=st.integers(0, 900),
    sums=st.dictionaries(NAMES, st.decimals(-(10**9), 10**9, places=3, allow_nan=False, allow_infinity=False)),
    counts=st.dictionaries(NAMES, st.integers(0, 900)),
    energy=st.dictionaries(NAMES, st.integers(0, 10**9)),
)


@settings(max_examples=60)
@given(hour=st.integers(0, 10**6).map(lambda h: T0 + h * HOUR_MS), buckets=st.dictionaries(st.integers(0, 3), totals))
def test_an_hour_item_round_trips_exactly(hour: int, buckets: dict[int, BucketTotals]) -> None:
    fine = {hour + index * FINEST_MS: bucket for index, bucket in buckets.items()}
    assert decode_hour(hour, encode_hour(hour, fine)) == fine


@settings(max_examples=60)
@given(day=totals)
def test_a_day_item_round_trips_exactly(day: BucketTotals) -> None:
    assert decode_day(encode_day(day)) == day


def test_a_meters_hour_item_stays_under_one_write_unit() -> None:
    bucket = BucketTotals(
        15,
        {"power_w": Decimal("75123.5"), "voltage_v": Decimal("3451.25")},
        {"power_w": 15, "voltage_v": 15},
        {"energy_import_wh": 12_345, "energy_export_wh": 678},
    )
    text = encode_hour(T0, {T0 + i * FINEST_MS: bucket for i in range(4)})
    assert len(text) + len("pk") + 40 + len("bucket") + 8 + len("b") + len("raw_n") + 3 < 1024
    assert total([bucket] * 4).n == 60


def test_hours_are_final_once_a_reading_follows_them_and_an_hour_has_passed() -> None:
    now = T0 + 10 * HOUR_MS + 5 * 60_000
    # a reading at 09:50: hours before 09:00 are final; the lag keeps 09:00 back anyway
    assert final_end(T0 + 9 * HOUR_MS + 50 * 60_000, now, SPLIT_CAP_MS, 300_000) == T0 + 9 * HOUR_MS
    # a reading at 08:10, and the clock at 10:05: up to 08:00 only (08:00-09:00 waits for the next reading)
    assert final_end(T0 + 8 * HOUR_MS + 10 * 60_000, now, SPLIT_CAP_MS, 300_000) == T0 + 8 * HOUR_MS
    # silent past the split cap: the rest of its last day is final (no reading can spread back into it)
    later = T0 + 3 * DAY_MS
    assert final_end(T0 + 8 * HOUR_MS, later, SPLIT_CAP_MS, 300_000) == T0 + DAY_MS


def test_late_readings_are_those_in_a_closed_hour_or_behind_the_newest() -> None:
    now = T0 + 10 * HOUR_MS + 60_000
    assert not is_late(T0 + 10 * HOUR_MS + 30_000, now, T0 + 10 * HOUR_MS)
    assert is_late(T0 + 10 * HOUR_MS + 30_000, now, T0 + 10 * HOUR_MS + 40_000)  # out of order
    assert is_late(T0 + 9 * HOUR_MS + 59 * 60_000, now, None)  # in an hour the clock has closed


def test_hours_group_into_runs_and_days_close_at_their_end() -> None:
    hours = [T0 + h * HOUR_MS for h in (0, 1, 2, 5, 23, 24)]
    assert runs(hours) == [
        (T0, T0 + 3 * HOUR_MS),
        (T0 + 5 * HOUR_MS, T0 + 6 * HOUR_MS),
        (T0 + 23 * HOUR_MS, T0 + 25 * HOUR_MS),
    ]
    assert days_closed_by(hours, T0 + DAY_MS) == [T0]
    assert days_closed_by(hours, T0 + 2 * DAY_MS) == [T0, T0 + DAY_MS]
