"""The raw-readings archive of decision 0024: each device's readings of a sealed UTC day, to S3.

Runs on a schedule (`kernel.resources.SCHEDULES`, `telemetry-archive`, rate(1 hour), in parallel segments;
the local clock fires it on `gridshare clock advance`). Each segment walks its part of the device registry
(a parallel scan, through the devices service) and, per device, reads the raw partition of the day
(`<device>#YYYYMMDD`, one Query, eventually consistent: the day is sealed days ago), writes it as
`raw/date=YYYY-MM-DD/device=<id>/readings.jsonl.gz` (gridshare.telemetry.retention's deterministic encoding)
and records the object (key, count, size, sha256) in the archive table. A device without readings that day
gets neither.

Bounded work: an invocation stops after `max_devices` or its time budget and saves where it stopped (one
cursor item per segment: the day, the registry position, whether that day's pass is done); the next run
continues, and once a day is done the segment moves to the next sealed day, so days missed while the job was
down are caught up in order. Idempotent: an object and its record are overwrites of the same bytes, so a
retried or repeated run changes nothing. The archive runs `archive_lag_days` after a day ends and readings
expire `raw_retention_days` after their ts, which the policy keeps far apart (retention.RetentionPolicy).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from gridshare.kernel.clock import now_ms
from gridshare.kernel.observability import lambda_request_id, metrics, observed
from gridshare.telemetry.retention import (
    BUCKET_ENV,
    DAY_MS,
    RetentionPolicy,
    archive_key,
    archived_line,
    digest,
    encode_lines,
    retention_policy,
    verified_lines,
)
from gridshare.telemetry.segments import DevicePage, Segment, device_page, segment_of, workers

logger = logging.getLogger("gridshare.telemetry.archive_job")

PAGE = 100  # device ids per registry read
CURSOR_PREFIX = "_archive#cursor#"
DEFAULT_MAX_DEVICES = 50_000


@dataclass(frozen=True)
class ArchivedDay:
    """The record of one archived object."""

    device_id: str
    day: int
    key: str
    readings: int
    size: int
    sha256: str


@dataclass
class ArchiveStore:
    """The raw table (read), the archive bucket (raw/* written) and the archive table (records, cursors)."""

    ddb: Any
    s3: Any  # the S3 client; None: created on first use (a run with nothing to archive needs none)
    raw_table: str
    table: str
    bucket: str

    def _s3(self) -> Any:
        if self.s3 is None:
            from gridshare.kernel.aws import client

            self.s3 = client("s3")
        return self.s3

    def raw_items(self, device_id: str, day: int) -> list[dict[str, Any]]:
        """Every raw item of the device's partition of `day`, in key order (ts, seq)."""
        from gridshare.telemetry.store import day_key

        kwargs: dict[str, Any] = {
            "TableName": self.raw_table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": day_key(device_id, day)}},
        }
        items: list[dict[str, Any]] = []
        while True:
            result = self.ddb.query(**kwargs)
            items.extend(result.get("Items", []))
            if "LastEvaluatedKey" not in result:
                return items
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def put(self, record: ArchivedDay, body: bytes) -> None:
        self._s3().put_object(
            Bucket=self.bucket,
            Key=record.key,
            Body=body,
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
        )
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "device_id": {"S": record.device_id},
                "day": {"N": str(record.day)},
                "key": {"S": record.key},
                "readings": {"N": str(record.readings)},
                "size": {"N": str(record.size)},
                "sha256": {"S": record.sha256},
            },
        )

    def record(self, device_id: str, day: int) -> ArchivedDay | None:
        item = self.ddb.get_item(
            TableName=self.table, Key={"device_id": {"S": device_id}, "day": {"N": str(day)}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return ArchivedDay(
            device_id=device_id,
            day=day,
            key=item["key"]["S"],
            readings=int(item["readings"]["N"]),
            size=int(item["size"]["N"]),
            sha256=item["sha256"]["S"],
        )

    def body(self, key: str) -> bytes:
        body: bytes = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def cursor(self, segment: Segment) -> dict[str, Any] | None:
        """Where the segment's pass continues: {"day", "after", "done"}; None for another segmentation."""
        item = self.ddb.get_item(
            TableName=self.table,
            Key={"device_id": {"S": f"{CURSOR_PREFIX}{segment.index}"}, "day": {"N": "0"}},
            ConsistentRead=True,
        ).get("Item")
        if not item or int(item["total"]["N"]) != segment.total:
            return None
        state: dict[str, Any] = json.loads(item["state"]["S"])
        return state

    def save_cursor(self, segment: Segment, state: dict[str, Any]) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "device_id": {"S": f"{CURSOR_PREFIX}{segment.index}"},
                "day": {"N": "0"},
                "total": {"N": str(segment.total)},
                "state": {"S": json.dumps(state, sort_keys=True)},
            },
        )


@dataclass
class ArchiveJob:
    store: ArchiveStore
    policy: RetentionPolicy = field(default_factory=retention_policy)
    device_page: DevicePage = field(default=device_page)
    workers: int = 1  # devices archived at once (I/O bound: the Lambda runs several)

    def archive_device(self, device_id: str, day: int) -> ArchivedDay | None:
        """Write the device's readings of `day` and record them; None when it has none."""
        items = self.store.raw_items(device_id, day)
        lines = [archived_line(item) for item in items if "metrics" in item and "ts" in item]
        if not lines:
            return None
        body = encode_lines(lines)
        record = ArchivedDay(device_id, day, archive_key(device_id, day), len(lines), len(body), digest(body))
        self.store.put(record, body)
        return record

    def _start(self, segment: Segment, now: int) -> tuple[int, dict[str, Any] | None] | None:
        """The day and registry position to continue from; None when the newest sealed day is done."""
        target = self.policy.sealed_day(now)
        oldest = (now // DAY_MS - self.policy.raw_retention_days + 1) * DAY_MS  # older readings are gone
        state = self.store.cursor(segment)
        if state is None:
            return target, None
        day, after = int(state["day"]), state.get("after")
        if state.get("done"):
            if day >= target:
                return None
            return max(day + DAY_MS, oldest), None
        if day < oldest:  # the job was down longer than the retention: that day's readings are gone
            return oldest, None
        return day, after

    def run(
        self,
        segment: Segment | None = None,
        *,
        max_devices: int = DEFAULT_MAX_DEVICES,
        time_budget_s: float | None = None,
        now: int | None = None,
    ) -> dict[str, Any]:
        """One invocation of a segment: archive from its cursor until the newest sealed day is done or a
        bound is reached."""
        segment = segment or Segment()
        at = now_ms() if now is None else now
        started = time.monotonic()
        out: dict[str, Any] = {"devices": 0, "objects": 0, "readings": 0, "days": []}
        start = self._start(segment, at)
        if start is None:
            return out
        day, after = start
        target = self.policy.sealed_day(at)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            while True:
                ids, after = self.device_page(min(PAGE, max_devices - out["devices"]), after, segment)
                for record in pool.map(self.archive_device, ids, [day] * len(ids)):
                    if record is not None:
                        out["objects"] += 1
                        out["readings"] += record.readings
                out["devices"] += len(ids)
                done = after is None
                self.store.save_cursor(segment, {"day": day, "after": after, "done": done})
                if done:
                    out["days"].append(day)
                    if day >= target:
                        break
                    day += DAY_MS
                over_time = time_budget_s is not None and time.monotonic() - started > time_budget_s
                if out["devices"] >= max_devices or over_time:
                    break
        return out


def read_archived(device_id: str, day: int, store: ArchiveStore | None = None) -> list[dict[str, Any]] | None:
    """The device's archived readings of a UTC day (start in ms), oldest first, as the raw table held them
    (`retention.archived_line`); None when that day has not been archived for the device. The object's
    digest is checked against the record."""
    store = store or archive_store()
    record = store.record(device_id, day)
    if record is None:
        return None
    body: bytes | None = None
    try:
        body = store.body(record.key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
            raise
    return verified_lines(record.key, record.sha256, body)


def archive_store() -> ArchiveStore:
    import os

    from gridshare.kernel.aws import client
    from gridshare.telemetry.models import ArchivedDayModel, RawReadingModel

    return ArchiveStore(
        ddb=client("dynamodb"),
        s3=None,  # on first use
        raw_table=RawReadingModel.Meta.table_name,
        table=ArchivedDayModel.Meta.table_name,
        bucket=os.environ[BUCKET_ENV],
    )


@observed(correlation_id=lambda_request_id)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The schedule's input names the segment (`segment`, `totalSegments`); "now" is the kernel clock's.
    Stops with a minute of the invocation left; the next run continues."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = max(1.0, remaining() / 1000 - 60) if callable(remaining) else None
    job = ArchiveJob(store=archive_store(), workers=workers())
    result = job.run(segment_of(event), time_budget_s=budget)
    metrics().add_metric(name="ArchiveObjectsWritten", unit=MetricUnit.Count, value=result["objects"])
    metrics().add_metric(name="ArchiveDevicesVisited", unit=MetricUnit.Count, value=result["devices"])
    logger.info("archive run", extra=result)
    return result
