"""Retention policy, archive encoding and job segments (decision 0024): pure, no AWS."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.kernel import resources
from gridshare.telemetry.raw_store import LOOKBACK_DAYS
from gridshare.telemetry.retention import (
    ARCHIVE_MARGIN_DAYS,
    BASELINE_LOOKBACK_DAYS,
    DAY_MS,
    RetentionError,
    RetentionPolicy,
    archive_key,
    archived_line,
    decode_lines,
    digest,
    encode_lines,
    retention_policy,
)
from gridshare.telemetry.segments import Segment, segment_of, workers

metrics = st.dictionaries(
    st.sampled_from(["power_w", "energy_import_wh", "voltage_v", "soc_pct", "relay_on"]),
    st.one_of(st.integers(-(10**12), 10**12), st.floats(allow_nan=False, allow_infinity=False), st.booleans()),
    min_size=1,
)


def _item(ts: int, seq: int, values: dict[str, object], raw: dict[str, object] | None) -> dict[str, object]:
    item: dict[str, object] = {
        "pk": {"S": "dev#20260101"},
        "sk": {"S": f"{ts:013d}#{seq:010d}"},
        "ts": {"N": str(ts)},
        "seq": {"N": str(seq)},
        "metrics": {"S": json.dumps(values)},
        "received_at": {"N": str(ts + 10)},
        "expires_at": {"N": str(ts // 1000 + 1)},
    }
    if raw is not None:
        item["uncalibrated"] = {"S": json.dumps(raw)}
    return item


@given(
    readings=st.lists(
        st.tuples(st.integers(0, 2**41), st.integers(0, 2**31), metrics, st.none() | metrics), max_size=30
    )
)
def test_the_archive_encoding_round_trips_every_reading_exactly_and_is_deterministic(
    readings: list[tuple[int, int, dict[str, object], dict[str, object] | None]],
) -> None:
    # Given stored raw items (calibrated or not)
    items = [_item(ts, seq, values, raw) for ts, seq, values, raw in readings]
    lines = [archived_line(item) for item in items]
    # When they are encoded twice
    body = encode_lines(lines)
    # Then the bytes are the same (a re-run rewrites the same object), and decode to the same values
    assert encode_lines([archived_line(item) for item in items]) == body
    assert digest(body) == digest(encode_lines(lines))
    decoded = decode_lines(body)
    assert decoded == lines
    for line, (ts, seq, values, raw) in zip(decoded, readings, strict=True):
        assert (line["ts"], line["seq"], line["metrics"], line.get("uncalibrated")) == (ts, seq, values, raw)
        assert all(type(line["metrics"][k]) is type(v) for k, v in values.items())  # 1.0 stays a float


@given(now=st.integers(30 * DAY_MS, 2**42), lag=st.integers(1, 30), extra=st.integers(0, 400))
def test_a_sealed_day_takes_no_more_readings_and_is_archived_well_before_its_readings_expire(
    now: int, lag: int, extra: int
) -> None:
    # Given a policy whose backfill window is lag - 1 days (the default derivation)
    least = max(lag + 1 + ARCHIVE_MARGIN_DAYS, BASELINE_LOOKBACK_DAYS)
    policy = RetentionPolicy(raw_retention_days=least + extra, archive_lag_days=lag)
    backfill_ms = (lag - 1) * DAY_MS
    # When the job picks the day to archive at `now`
    day = policy.sealed_day(now)
    # Then it is a whole UTC day that ended at least the backfill window ago (ingest refuses its readings)
    assert day % DAY_MS == 0
    assert now - (day + DAY_MS - 1) > backfill_ms
    # And the day after it is not sealed yet (the job is never later than it must be)
    assert now - (day + 2 * DAY_MS - 1) <= lag * DAY_MS
    # And its earliest reading expires at least the margin after the day is sealed
    assert policy.expires_at(day) * 1000 - (day + (lag + 1) * DAY_MS) >= ARCHIVE_MARGIN_DAYS * DAY_MS


def test_a_retention_shorter_than_the_archive_lag_plus_margin_is_refused() -> None:
    assert RetentionPolicy().raw_retention_days == 35 and RetentionPolicy().archive_lag_days == 8
    RetentionPolicy(raw_retention_days=BASELINE_LOOKBACK_DAYS, archive_lag_days=8)
    RetentionPolicy(raw_retention_days=40, archive_lag_days=40 - 1 - ARCHIVE_MARGIN_DAYS)
    with pytest.raises(RetentionError, match="at least 41 days"):
        RetentionPolicy(raw_retention_days=40, archive_lag_days=33)
    with pytest.raises(RetentionError, match="counter baseline"):
        RetentionPolicy(raw_retention_days=BASELINE_LOOKBACK_DAYS - 1, archive_lag_days=8)
    with pytest.raises(RetentionError):
        RetentionPolicy(archive_lag_days=0)


def test_the_policy_is_read_from_the_environment() -> None:
    assert retention_policy({}) == RetentionPolicy(35, 8)
    longer = {"GS_TELEMETRY_RAW_RETENTION_DAYS": "90", "GS_BACKFILL_DAYS": "3"}
    assert retention_policy(longer) == RetentionPolicy(90, 4)
    assert retention_policy({"GS_TELEMETRY_ARCHIVE_LAG_DAYS": "10"}) == RetentionPolicy(35, 10)
    with pytest.raises(RetentionError, match="backfilled"):
        retention_policy({"GS_TELEMETRY_ARCHIVE_LAG_DAYS": "7"})  # the backfill window is 7 days
    with pytest.raises(RetentionError, match="expire before"):
        retention_policy({"GS_TELEMETRY_RAW_RETENTION_DAYS": "35", "GS_BACKFILL_DAYS": "30"})
    with pytest.raises(RetentionError, match="baseline"):
        retention_policy({"GS_TELEMETRY_RAW_RETENTION_DAYS": "14"})
    with pytest.raises(RetentionError, match="whole number"):
        retention_policy({"GS_TELEMETRY_RAW_RETENTION_DAYS": "a month"})


def test_the_retention_covers_the_counter_baseline_lookback() -> None:
    assert BASELINE_LOOKBACK_DAYS == LOOKBACK_DAYS


def test_archive_keys_are_partitioned_by_date_and_device() -> None:
    assert archive_key("01JDEV", 1_767_225_600_000) == "raw/date=2026-01-01/device=01JDEV/readings.jsonl.gz"
    assert archive_key("01JDEV", 1_767_225_600_000 + DAY_MS - 1).startswith("raw/date=2026-01-01/")


def test_a_schedule_input_names_its_segment() -> None:
    assert segment_of({}) == Segment(0, 1) and segment_of(None) == Segment(0, 1)
    assert segment_of({"segment": 3, "totalSegments": 16}) == Segment(3, 16)
    with pytest.raises(ValueError):
        segment_of({"segment": 16, "totalSegments": 16})
    assert workers({}) == 8 and workers({"GS_TELEMETRY_JOB_WORKERS": "2"}) == 2
    assert workers({"GS_TELEMETRY_JOB_WORKERS": "500"}) == 10


@pytest.mark.parametrize("spec", resources.SCHEDULES, ids=lambda s: s.name)
def test_a_segmented_schedule_invokes_every_segment_once(spec: resources.ScheduleSpec) -> None:
    invocations = spec.invocations()
    assert len(invocations) == spec.segments == len({name for name, _ in invocations})
    segments = [segment_of(json.loads(payload)) for _, payload in invocations]
    assert segments == [Segment(i, spec.segments) for i in range(spec.segments)]
    if spec.segments == 1:
        assert invocations == ((spec.name, "{}"),)
