"""Tiered retention (decision 0024) against moto: raw items carry their TTL, the table expires by it, and the
archive job copies a sealed day of each device's raw readings to the provisioned S3 bucket, idempotently,
in bounded runs, from which `read_archived` reads exactly what the raw table held."""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

import boto3
import pytest

from gridshare.kernel.aws import client
from gridshare.telemetry.archive_job import ArchiveJob, archive_store, read_archived
from gridshare.telemetry.models import RawReadingModel
from gridshare.telemetry.readings import Reading
from gridshare.telemetry.retention import BUCKET_ENV, DAY_MS, RetentionPolicy, archive_key, archived_line
from gridshare.telemetry.rollups import counter_state
from gridshare.telemetry.segments import Segment
from gridshare.telemetry.service import TelemetryService
from gridshare.telemetry.store import StoreOutcome, TelemetryStore, day_key

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
POLICY = RetentionPolicy(raw_retention_days=35, archive_lag_days=8)
NOW = T0 + 9 * DAY_MS + 3_600_000  # 2026-01-10T01:00Z: 2026-01-01 is the newest sealed day
_devices = itertools.count()


def _store_day(device: str, day: int, count: int, *, calibrated: bool = False) -> list[dict[str, Any]]:
    """`count` readings of a 15-minute meter on `day` through ingest's store; returns their raw items."""
    store = TelemetryStore(ddb=client("dynamodb"), raw_ttl_s=POLICY.ttl_s)
    state = None
    for i in range(count):
        ts = day + i * 900_000 + 7_000
        metrics: dict[str, Any] = {"power_w": 1000.5 + i, "energy_import_wh": 10_000 + 250 * i, "voltage_v": 230.1}
        reading = Reading(device_id=device, ts=ts, seq=i, metrics=metrics)
        uncalibrated = {"power_w": 990.0 + i} if calibrated else None
        new = counter_state(reading, state)
        assert store.store(reading, [], state, new, ts + 500, uncalibrated=uncalibrated) is StoreOutcome.STORED
        state = new
    items = client("dynamodb").query(
        TableName=RawReadingModel.Meta.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": day_key(device, day)}},
    )["Items"]
    return sorted(items, key=lambda item: item["sk"]["S"])


def _job(devices: list[str]) -> ArchiveJob:
    def page(limit: int, after: dict[str, Any] | None, segment: Segment) -> tuple[list[str], dict[str, Any] | None]:
        mine = [d for i, d in enumerate(devices) if i % segment.total == segment.index]
        position = int(after["i"]) if after else 0
        return mine[position : position + limit], ({"i": position + limit} if position + limit < len(mine) else None)

    return ArchiveJob(store=archive_store(), policy=POLICY, device_page=page)


def _object(key: str) -> bytes:
    body: bytes = boto3.client("s3").get_object(Bucket=archive_store().bucket, Key=key)["Body"].read()
    return body


@pytest.mark.usefixtures("aws")
def test_raw_items_carry_the_retention_ttl_and_the_table_expires_by_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the provisioned raw table and ingest's store as the service builds it
    ttl = client("dynamodb").describe_time_to_live(TableName=RawReadingModel.Meta.table_name)
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    monkeypatch.setenv("GS_TELEMETRY_RAW_RETENTION_DAYS", "40")
    store = TelemetryService().store
    # When a reading is stored
    reading = Reading(device_id="dev-ttl", ts=T0 + 1_234, seq=1, metrics={"power_w": 5.0})
    assert store.store(reading, [], None, counter_state(reading, None), T0 + 2_000) is StoreOutcome.STORED
    # Then its raw item expires 40 days after the end of its UTC day (epoch seconds), with its whole partition
    items = client("dynamodb").scan(TableName=RawReadingModel.Meta.table_name)["Items"]
    (item,) = [i for i in items if i["pk"]["S"] != "dev-ttl#first"]
    assert int(item["expires_at"]["N"]) == ((T0 + 1_234) // 86_400_000 + 1) * 86_400 + 40 * 86_400
    # and the device's `first` marker (the bound of its look-backs) does not expire
    (marker,) = [i for i in items if i["pk"]["S"] == "dev-ttl#first"]
    assert marker == {"pk": {"S": "dev-ttl#first"}, "sk": {"S": "first"}, "ts": {"N": str(T0 + 1_234)}}


@pytest.mark.usefixtures("aws")
def test_a_sealed_day_is_archived_to_s3_and_read_back_equal_to_the_raw_readings() -> None:
    # Given two devices with readings on the sealed day (one calibrated) and one the day after
    a, b, quiet = (f"dev-arch-{next(_devices)}" for _ in range(3))
    items_a = _store_day(a, T0, 96, calibrated=True)
    items_b = _store_day(b, T0, 5)
    _store_day(a, T0 + DAY_MS, 3)  # the next day is not sealed yet
    # When the archive job runs
    result = _job([a, b, quiet]).run(now=NOW)
    # Then each device's day is one gzip'd JSON-lines object under raw/date=.../device=.../
    assert result == {"devices": 3, "objects": 2, "readings": 101, "days": [T0]}
    key = archive_key(a, T0)
    assert key == f"raw/date=2026-01-01/device={a}/readings.jsonl.gz"
    lines = [json.loads(line) for line in gzip.decompress(_object(key)).decode().splitlines()]
    assert len(lines) == 96 and lines[0]["uncalibrated"] == {"power_w": 990.0}
    # And read back, it is exactly the stored readings (ts, seq, metrics, uncalibrated, receivedAt), in order
    assert read_archived(a, T0) == [archived_line(item) for item in items_a]
    assert read_archived(b, T0) == [archived_line(item) for item in items_b]
    assert read_archived(a, T0)[5]["metrics"] == {"power_w": 1005.5, "energy_import_wh": 11_250, "voltage_v": 230.1}
    # And a device without readings, and a day not archived, have nothing
    assert read_archived(quiet, T0) is None
    assert read_archived(a, T0 + DAY_MS) is None
    listed = boto3.client("s3").list_objects_v2(Bucket=archive_store().bucket, Prefix="raw/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted([archive_key(a, T0), archive_key(b, T0)])


@pytest.mark.usefixtures("aws")
def test_a_rerun_rewrites_the_same_bytes_and_nothing_else() -> None:
    # Given a day archived once
    device = f"dev-arch-{next(_devices)}"
    _store_day(device, T0, 12)
    job = _job([device])
    job.run(now=NOW)
    first = _object(archive_key(device, T0))
    record = job.store.record(device, T0)
    # When the day is archived again (a retried run, a reset cursor)
    assert job.archive_device(device, T0) == record
    # Then the object and its record are byte-for-byte the same
    assert _object(archive_key(device, T0)) == first
    assert job.store.record(device, T0) == record
    # And a run after the newest sealed day is done does nothing
    assert job.run(now=NOW) == {"devices": 0, "objects": 0, "readings": 0, "days": []}


@pytest.mark.usefixtures("aws")
def test_runs_are_bounded_continue_from_their_cursor_and_catch_up_missed_days() -> None:
    # Given five devices with readings on two consecutive days, archived up to the first
    devices = [f"dev-arch-{next(_devices)}" for _ in range(5)]
    for device in devices:
        _store_day(device, T0, 2)
        _store_day(device, T0 + DAY_MS, 2)
    job = _job(devices)
    assert job.run(now=NOW)["objects"] == 5
    # When the job next runs two days later (a day missed), two devices per invocation
    later = NOW + DAY_MS
    runs = [job.run(max_devices=2, now=later) for _ in range(4)]
    # Then each invocation archives at most two devices, and the passes continue into the missed day
    assert [r["devices"] for r in runs] == [2, 2, 1, 0]
    assert [r["days"] for r in runs] == [[], [], [T0 + DAY_MS], []]
    assert all(read_archived(device, T0 + DAY_MS) is not None for device in devices)


@pytest.mark.usefixtures("aws")
def test_a_pass_left_unfinished_past_the_retention_restarts_at_the_oldest_day_still_kept() -> None:
    # Given a pass over the sealed day stopped after one of three devices
    devices = [f"dev-arch-{next(_devices)}" for _ in range(3)]
    job = _job(devices)
    assert job.run(max_devices=1, now=NOW)["devices"] == 1
    # When the job next runs 60 days later, the day it stopped in long expired
    later = NOW + 60 * DAY_MS
    oldest = (later // DAY_MS - POLICY.raw_retention_days + 1) * DAY_MS
    for device in devices:
        _store_day(device, oldest, 1)
    result = job.run(max_devices=3, now=later)
    # Then it starts over at the oldest day still kept, from the first device of the registry
    assert result["devices"] == 3 and result["objects"] == 3
    assert all(read_archived(device, oldest) is not None for device in devices)


@pytest.mark.usefixtures("aws")
def test_segments_split_the_fleet_and_keep_cursors_of_their_own() -> None:
    # Given six devices with readings, and the job in three segments
    devices = [f"dev-arch-{next(_devices)}" for _ in range(6)]
    for device in devices:
        _store_day(device, T0, 1)
    job = _job(devices)
    # When each segment runs
    results = [job.run(Segment(i, 3), now=NOW) for i in range(3)]
    # Then each archived its own two devices, and together every device once
    assert [r["objects"] for r in results] == [2, 2, 2]
    assert all(read_archived(device, T0) is not None for device in devices)
    assert all(job.run(Segment(i, 3), now=NOW)["devices"] == 0 for i in range(3))


def test_the_bucket_is_the_provisioned_one(aws: dict[str, str]) -> None:
    # Given the local stack's environment: the functions are told the bucket, which exists on moto S3
    bucket = aws[BUCKET_ENV]
    block = boto3.client("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
