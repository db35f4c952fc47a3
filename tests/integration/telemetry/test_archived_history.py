"""A raw history reads the days whose readings expired from the S3 archive (decision 0024), against moto.

Readings are stored as ingest stores them (with the retention's TTL), the archive job archives each sealed
day as its schedule would, the clock moves past the retention and the expired raw items are deleted as
DynamoDB's TTL would (moto does not expire items). The history over a range spanning archived and live days
is then exactly what it was before anything expired, whole and page by page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from gridshare.devices.models import DeviceModel
from gridshare.kernel import clock
from gridshare.kernel.aws import client
from gridshare.kernel.deadline import Deadline
from gridshare.kernel.roles import Caller
from gridshare.telemetry.archive_job import ArchiveJob, archive_store, read_archived
from gridshare.telemetry.models import RawReadingModel
from gridshare.telemetry.raw_archive import ArchiveDamaged, raw_archive
from gridshare.telemetry.readings import Reading
from gridshare.telemetry.retention import DAY_MS, RetentionPolicy, archive_key
from gridshare.telemetry.rollups import counter_state
from gridshare.telemetry.segments import Segment
from gridshare.telemetry.service import TelemetryService
from gridshare.telemetry.store import StoreOutcome, TelemetryStore, day_key

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
POLICY = RetentionPolicy(raw_retention_days=35, archive_lag_days=8)
DEVICE = "dev-archived-history"
OWNER = Caller(user_id="owner-arch", sub="owner-arch", role="prosumer", groups=(), issued_at=0, token_id="t")
DAYS = [T0 + d * DAY_MS for d in range(6)]
START, END = T0 + 12 * HOUR, T0 + 6 * DAY_MS  # from the middle of the first day to the end of the sixth
BEFORE = T0 + 7 * DAY_MS  # every reading still in DynamoDB, nothing archived yet
# Days 0-3 are past the retention as the reader counts it (from a day's start: items written before 2026-12-03
# expired reading by reading), days 4-5 are not. A day partition now expires as one, at the end of its day
# plus the retention: days 0-2 are gone, day 3 is still whole in DynamoDB and read from the archive.
AFTER = T0 + 3 * DAY_MS + POLICY.raw_retention_days * DAY_MS + 5 * HOUR


@pytest.fixture
def device(aws: dict[str, str]) -> str:
    DeviceModel(
        id=DEVICE,
        owner_id=OWNER.user_id,
        name="meter",
        type="meter",
        thing_name=f"thing-{DEVICE}",
        certificate_id="c",
        certificate_arn="arn:aws:iot:us-east-1:123456789012:cert/c",
        created_at=T0,
    ).save()
    store = TelemetryStore(ddb=client("dynamodb"), raw_ttl_s=POLICY.ttl_s)
    state = None
    seq = 0
    for day in DAYS:
        for hour in range(0, 24, 2):  # 12 readings a day, the odd ones calibrated
            ts = day + hour * HOUR + 7_000
            metrics: dict[str, Any] = {"power_w": 1000.0 + seq, "energy_import_wh": 10_000 + 100 * seq}
            reading = Reading(device_id=DEVICE, ts=ts, seq=seq, metrics=metrics)
            uncalibrated = {"power_w": 990.0 + seq} if seq % 2 else None
            new = counter_state(reading, state)
            assert store.store(reading, [], state, new, ts + 400, uncalibrated=uncalibrated) is StoreOutcome.STORED
            state, seq = new, seq + 1
    return DEVICE


def _archive_every_day() -> None:
    """The archive schedule's runs: each day archived once it is sealed (8 days after it ends)."""

    def page(limit: int, after: dict[str, Any] | None, segment: Segment) -> tuple[list[str], None]:
        return [DEVICE], None

    job = ArchiveJob(store=archive_store(), policy=POLICY, device_page=page)
    for day in DAYS:
        assert job.run(now=day + (POLICY.archive_lag_days + 1) * DAY_MS + HOUR)["days"] == [day]
    assert all(read_archived(DEVICE, day) is not None for day in DAYS)


def _expire(now: int) -> int:
    """Delete the raw items whose TTL has passed at `now`, as DynamoDB's TTL would; how many."""
    ddb = client("dynamodb")
    gone = 0
    for day in DAYS:
        items = ddb.query(
            TableName=RawReadingModel.Meta.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": day_key(DEVICE, day)}},
        )["Items"]
        for item in items:
            if int(item["expires_at"]["N"]) <= now // 1000:
                ddb.delete_item(TableName=RawReadingModel.Meta.table_name, Key={"pk": item["pk"], "sk": item["sk"]})
                gone += 1
    return gone


def _delete_day(day: int) -> None:
    ddb = client("dynamodb")
    items = ddb.query(
        TableName=RawReadingModel.Meta.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": day_key(DEVICE, day)}},
    )["Items"]
    for item in items:
        ddb.delete_item(TableName=RawReadingModel.Meta.table_name, Key={"pk": item["pk"], "sk": item["sk"]})


def _pages(limit: int, metric: str = "power_w") -> Iterator[list[dict[str, Any]]]:
    service, cursor = TelemetryService(), None
    for _ in range(100):
        points, cursor = service.history(OWNER, DEVICE, metric, START, END, "raw", limit, cursor)
        yield points
        if cursor is None:
            return
    raise AssertionError("the history never ended")


def _history(limit: int) -> list[dict[str, Any]]:
    return [point for page in _pages(limit) for point in page]


class _Calls:
    """The AWS operations a block of code made, counted through botocore's events."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __enter__(self) -> _Calls:
        for service in ("dynamodb", "s3"):
            client(service).meta.events.register(f"before-call.{service}", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        for service in ("dynamodb", "s3"):
            client(service).meta.events.unregister(f"before-call.{service}", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.counts[model.name] = self.counts.get(model.name, 0) + 1


def test_a_history_across_archived_and_live_days_is_what_it_was_before_the_readings_expired(device: str) -> None:
    # Given the history of six days while every reading is in DynamoDB, whole and 5 points a page
    with clock.frozen(BEFORE):
        whole_before = _history(1000)
        paged_before = _history(5)
    assert len(whole_before) == 12 * 6 - 6 and paged_before == whole_before  # the first day from noon
    assert whole_before[1] == {"ts": "2026-01-01T14:00:07.000Z", "seq": 7, "value": 1007.0, "uncalibrated": 997.0}
    # When each day is archived once sealed, the clock moves past the retention of days 0-3 and their
    # expired readings are deleted, and day 5's readings are gone early (a retention lengthened since)
    _archive_every_day()
    assert _expire(AFTER) == 12 * 3
    _delete_day(DAYS[5])
    with clock.frozen(AFTER):
        with _Calls() as calls:
            whole_after = _history(1000)
        paged_after = _history(5)
    # Then the history is the same, whole and across pages (cursors crossing archived and live days)
    assert whole_after == whole_before
    assert paged_after == paged_before
    # And it took the device's item (whose history it is), one batched read of the archive records, one object
    # per day read from the archive (days 0-3 past the retention, day 5 found empty) and a query of each live
    # partition (days 4 and 5) only
    assert calls.counts == {"GetItem": 1, "BatchGetItem": 1, "GetObject": 5, "Query": 2}


def test_every_page_moves_forward_past_the_deadline_across_archived_days(device: str) -> None:
    # Given days 0-3 archived and expired
    _archive_every_day()
    _expire(AFTER)
    with clock.frozen(AFTER):
        expected = _history(1000)
        store, archive = TelemetryStore(), raw_archive()
        assert archive is not None
        # When every page is read with its deadline long past: one day (object or partition) a page
        rows: list[int] = []
        after, pages = None, 0
        while True:
            page, after = store.raw(DEVICE, START, END, 100, after, deadline=Deadline(0), archive=archive)
            rows += [row["seq"] for row in page]
            pages += 1
            if after is None:
                break
            assert pages < 20
    # Then the pages still end, with every reading once
    assert rows == [point["seq"] for point in expected] and pages == 6


def test_an_archived_object_that_does_not_match_its_record_is_an_error_not_a_gap(device: str) -> None:
    # Given day 1 archived and expired, and its object replaced by other bytes
    _archive_every_day()
    _expire(AFTER)
    boto3.client("s3").put_object(Bucket=archive_store().bucket, Key=archive_key(DEVICE, DAYS[1]), Body=b"other")
    # When the history reads it, then it fails rather than answer without the day
    with clock.frozen(AFTER), pytest.raises(ArchiveDamaged, match="does not match"):
        _history(1000)


def test_without_an_archive_bucket_days_past_the_retention_hold_what_dynamodb_still_has(
    device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _archive_every_day()
    _expire(AFTER)
    monkeypatch.delenv("GS_TELEMETRY_ARCHIVE_BUCKET")
    with clock.frozen(AFTER):
        points = _history(1000)
    assert [point["ts"][:10] for point in points][:1] == ["2026-01-04"] and len(points) == 12 * 3
