"""Accepted readings as Timestream multi-measure records (gridshare.telemetry.timestream_records)."""

from __future__ import annotations

import pytest

from gridshare.telemetry import timestream_records as TR

READING = {
    "deviceId": "dev-1",
    "ownerId": "user-1",
    "deviceType": "smart_meter",
    "siteId": "site-1",
    "ts": "2026-12-02T10:15:00Z",
    "metrics": {"power_w": 1250, "voltage_v": 230.4, "leak": False},
}


def test_a_reading_is_one_multi_measure_record_with_thing_owner_and_site() -> None:
    record = TR.record(READING)
    assert record["Dimensions"] == [
        {"Name": "thing", "Value": "dev-1"},
        {"Name": "owner", "Value": "user-1"},
        {"Name": "site", "Value": "site-1"},
    ]
    assert record["MeasureName"] == "reading" and record["MeasureValueType"] == "MULTI"
    assert record["MeasureValues"] == [
        {"Name": "leak", "Value": "false", "Type": "BOOLEAN"},
        {"Name": "power_w", "Value": "1250.0", "Type": "DOUBLE"},  # one type per measure: always DOUBLE
        {"Name": "voltage_v", "Value": "230.4", "Type": "DOUBLE"},
    ]
    assert record["Time"] == "1796206500000" and record["TimeUnit"] == "MILLISECONDS"


def test_a_device_on_no_site_has_no_site_dimension() -> None:
    record = TR.record({**READING, "siteId": None})
    assert [d["Name"] for d in record["Dimensions"]] == ["thing", "owner"]


@pytest.mark.parametrize(
    "broken",
    [
        {**READING, "ts": "2026-12-02T10:15:00"},  # no timezone
        {**READING, "metrics": {}},
        {**READING, "metrics": {"power_w": "high"}},
        {**READING, "metrics": {"power_w": float("nan")}},
        {k: v for k, v in READING.items() if k != "ownerId"},
    ],
)
def test_a_reading_that_breaks_the_contract_is_refused_not_written(broken: dict[str, object]) -> None:
    with pytest.raises(TR.NotARecord):
        TR.record(broken)


def test_writes_are_split_at_the_write_records_limit() -> None:
    records = TR.records([{**READING, "ts": f"2026-12-02T10:{m:02d}:00Z"} for m in range(0, 60)] * 4)
    assert [len(b) for b in TR.batches(records)] == [100, 100, 40]
