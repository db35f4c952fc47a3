"""Raw readings of archived days, read back for a raw history (decision 0024).

Raw items expire `raw_retention_days` after the end of their UTC day (DynamoDB TTL; items written before
2026-12-03 after their ts, up to a day sooner, which is the moment counted from here); before that, the
archive job has copied each device's sealed days to S3 and recorded them in the archive table
(gridshare.telemetry.archive_job). A raw history (`TelemetryStore.raw`) reads a day from the archive
instead of its DynamoDB partition when the archive table has a record of the device's day and

- the day is past the retention: its first reading may have expired. TTL deletes lazily, so such a partition
  may be partly gone; the archived object is the whole sealed day; or
- the partition holds nothing in the requested range: readings deleted before the current policy says (a
  retention lengthened after they were written, a purge).

Which days have a record is one BatchGetItem per request (`RawArchive.days`), asked only for days that can
have one (sealed at `now`: `RetentionPolicy.sealed_day`) and that the page has not passed yet: a history of
recent days costs nothing more. An archived day is one GetObject and a gunzip, its digest checked against
the record; nothing is kept across requests. Its rows have the shape and the positions (`<pk>|<sk>`) of the
partition's rows, so a cursor does not say which source a day came from: paging crosses between archived
and live days, and a day whose source changes between two pages continues where it stopped.

A record whose object is missing or does not match its digest is an `ArchiveDamaged` error (a 500): the
archive is the only copy of those readings, and a history without them would be silently wrong.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from gridshare.kernel import errors
from gridshare.kernel.deadline import NEVER, Deadline
from gridshare.telemetry.retention import (
    BUCKET_ENV,
    DAY_MS,
    ArchiveDamaged,
    RetentionPolicy,
    retention_policy,
    verified_lines,
)

__all__ = ["ArchiveDamaged", "ArchivedDays", "ArchiveRecord", "RawArchive", "raw_archive"]
from gridshare.telemetry.store import day_key, raw_sort_key

BATCH_KEYS = 100  # BatchGetItem's bound; a raw history covers at most 32 days (store.MAX_RAW_DAYS)


@dataclass(frozen=True)
class ArchiveRecord:
    key: str
    sha256: str


@dataclass
class RawArchive:
    """The archive as a raw history reads it: the archive table (records) and the bucket (GetObject on raw/*)."""

    ddb: Any
    s3: Any
    table: str
    bucket: str
    policy: RetentionPolicy = field(default_factory=retention_policy)

    def days(self, device_id: str, days: Sequence[int], now: int, *, deadline: Deadline = NEVER) -> ArchivedDays:
        """The archived days among `days` (UTC day starts, ms) of the device, and which of them are past the
        retention, read in one BatchGetItem (its unprocessed keys asked again until the deadline)."""
        sealed = self.policy.sealed_day(now)
        wanted = [day for day in dict.fromkeys(days) if day <= sealed]
        records: dict[int, ArchiveRecord] = {}
        for first in range(0, len(wanted), BATCH_KEYS):
            keys: list[dict[str, Any]] = [
                {"device_id": {"S": device_id}, "day": {"N": str(day)}} for day in wanted[first : first + BATCH_KEYS]
            ]
            while keys:
                result = self.ddb.batch_get_item(
                    RequestItems={
                        self.table: {
                            "Keys": keys,
                            "ProjectionExpression": "#d, #k, sha256",
                            "ExpressionAttributeNames": {"#d": "day", "#k": "key"},
                        }
                    }
                )
                for item in result.get("Responses", {}).get(self.table, []):
                    records[int(item["day"]["N"])] = ArchiveRecord(key=item["key"]["S"], sha256=item["sha256"]["S"])
                keys = result.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if keys and deadline.passed():
                    raise errors.Unavailable("Reading the archive's records took longer than the request may.")
        retention_ms = self.policy.raw_retention_days * DAY_MS
        expired = frozenset(day for day in records if day + retention_ms <= now)
        return ArchivedDays(self, device_id, records, expired)

    def readings(self, record: ArchiveRecord) -> list[dict[str, Any]]:
        """The archived lines of one object (retention.archived_line), oldest first; the digest checked."""
        body: bytes | None = None
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=record.key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
        return verified_lines(record.key, record.sha256, body)


@dataclass(frozen=True)
class ArchivedDays:
    """One device's archived days within one raw history request."""

    archive: RawArchive
    device_id: str
    records: dict[int, ArchiveRecord]
    expired: frozenset[int]  # archived days past the retention: read from the archive, never from DynamoDB

    def replaces(self, day: int) -> bool:
        """Whether the day is read from the archive rather than from its partition."""
        return day in self.expired

    def holds(self, day: int) -> bool:
        return day in self.records

    def rows(self, day: int, low: str, high: str) -> list[dict[str, Any]]:
        """The day's archived readings with a sort key in (low, high], as `TelemetryStore.raw` builds rows
        (ts, seq, metrics, uncalibrated when stored, `_key` = "<pk>|<sk>"), oldest first."""
        record = self.records.get(day)
        if record is None:
            return []
        pk = day_key(self.device_id, day)
        out: list[dict[str, Any]] = []
        for line in self.archive.readings(record):
            sk = raw_sort_key(int(line["ts"]), int(line["seq"]))
            if low < sk <= high:
                row: dict[str, Any] = {"ts": int(line["ts"]), "seq": int(line["seq"]), "metrics": line["metrics"]}
                if "uncalibrated" in line:
                    row["uncalibrated"] = line["uncalibrated"]
                row["_key"] = f"{pk}|{sk}"
                out.append(row)
        return out


def raw_archive() -> RawArchive | None:
    """The archive a raw history falls back to; None where no archive bucket is configured (then days past
    the retention hold what DynamoDB still has)."""
    bucket = os.environ.get(BUCKET_ENV, "").strip()
    if not bucket:
        return None
    from gridshare.kernel.aws import client
    from gridshare.telemetry.models import ArchivedDayModel

    return RawArchive(ddb=client("dynamodb"), s3=client("s3"), table=ArchivedDayModel.Meta.table_name, bucket=bucket)
