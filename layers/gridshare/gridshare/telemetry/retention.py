"""Tiered retention of raw readings (decision 0024): a TTL on every raw item, an S3 archive before it.

Raw readings expire `raw_retention_days` after their own ts (DynamoDB TTL, attribute `expires_at`, epoch
seconds). Rollups (the job's hour and day items, 0003's buckets) have no TTL and stay. Before a day's raw
readings expire, the archive job writes them to S3, one gzip'd JSON-lines object per device and UTC day:

    raw/date=YYYY-MM-DD/device=<id>/readings.jsonl.gz

A day is archived once it is **sealed**: no reading for it can still be accepted (ingest refuses readings
older than the backfill window), so the object is final. That is `archive_lag_days` = backfill window + 1
after the day ends. The retention must leave the archive a margin of runs to succeed in
(`ARCHIVE_MARGIN_DAYS`): `raw_retention_days >= archive_lag_days + 1 + ARCHIVE_MARGIN_DAYS`, and must cover
the 32 days the readers and the rollup job search back for a device's counter baseline
(`BASELINE_LOOKBACK_DAYS`, gridshare.telemetry.raw_store.LOOKBACK_DAYS). Both are checked when the policy is
read (the CDK app reads it at synth, so a deployment that would expire unarchived readings does not
synthesize).

The encoding is deterministic (items in key order, keys sorted, gzip without a timestamp or name): a
re-run rewrites the same bytes, so the archive is idempotent and its digest is a fact about the readings.
Pure: no AWS, no clock.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DAY_MS = 86_400_000
DEFAULT_RAW_RETENTION_DAYS = 35
DEFAULT_BACKFILL_DAYS = 7  # kernel.settings' backfill_days default
ARCHIVE_MARGIN_DAYS = 7  # days of failed archive runs a day survives before its readings expire
BASELINE_LOOKBACK_DAYS = 32  # raw_store.LOOKBACK_DAYS: how far back a counter baseline is searched
RETENTION_ENV = "GS_TELEMETRY_RAW_RETENTION_DAYS"
ARCHIVE_LAG_ENV = "GS_TELEMETRY_ARCHIVE_LAG_DAYS"
BUCKET_ENV = "GS_TELEMETRY_ARCHIVE_BUCKET"
PREFIX = "raw/"


class RetentionError(ValueError):
    """A retention that would let raw readings expire before the archive has had time to copy them."""


@dataclass(frozen=True)
class RetentionPolicy:
    raw_retention_days: int = DEFAULT_RAW_RETENTION_DAYS
    archive_lag_days: int = DEFAULT_BACKFILL_DAYS + 1

    def __post_init__(self) -> None:
        if self.archive_lag_days < 1:
            raise RetentionError(f"the archive lag must be at least a day, not {self.archive_lag_days}")
        if self.raw_retention_days < BASELINE_LOOKBACK_DAYS:
            raise RetentionError(
                f"raw readings kept {self.raw_retention_days} days: keep them at least {BASELINE_LOOKBACK_DAYS} days,"
                " the span searched back for a device's counter baseline"
            )
        needed = self.archive_lag_days + 1 + ARCHIVE_MARGIN_DAYS
        if self.raw_retention_days < needed:
            raise RetentionError(
                f"raw readings kept {self.raw_retention_days} days would expire before they are archived: a day"
                f" is archived {self.archive_lag_days} days after it ends, plus {ARCHIVE_MARGIN_DAYS} days of"
                f" margin for failed runs; keep them at least {needed} days"
            )

    @property
    def ttl_s(self) -> int:
        return self.raw_retention_days * 86_400

    def expires_at(self, ts_ms: int) -> int:
        """The raw item's TTL (epoch seconds): the end of its UTC day plus the retention, so that a day
        partition expires as one (`TelemetryStore.raw_item`)."""
        return (ts_ms // DAY_MS + 1) * 86_400 + self.ttl_s

    def sealed_day(self, now_ms: int) -> int:
        """The newest UTC day (start, ms) no reading can still be accepted for: the one to archive at `now`."""
        return (now_ms // DAY_MS - self.archive_lag_days - 1) * DAY_MS


def _int_env(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise RetentionError(f"{name} must be a whole number of days, not {text!r}") from None


def retention_policy(env: Mapping[str, str] | None = None) -> RetentionPolicy:
    """The policy from the environment: GS_TELEMETRY_RAW_RETENTION_DAYS (default 35) and
    GS_TELEMETRY_ARCHIVE_LAG_DAYS (default GS_BACKFILL_DAYS + 1, which must not be shorter)."""
    env = os.environ if env is None else env
    backfill = _int_env(env, "GS_BACKFILL_DAYS")
    backfill = DEFAULT_BACKFILL_DAYS if backfill is None else backfill
    lag = _int_env(env, ARCHIVE_LAG_ENV)
    if lag is not None and lag <= backfill:
        raise RetentionError(f"{ARCHIVE_LAG_ENV}={lag} would archive days that still accept backfilled readings")
    retention = _int_env(env, RETENTION_ENV)
    return RetentionPolicy(
        raw_retention_days=DEFAULT_RAW_RETENTION_DAYS if retention is None else retention,
        archive_lag_days=backfill + 1 if lag is None else lag,
    )


def day_text(day_ms: int) -> str:
    return f"{datetime.fromtimestamp(day_ms // 1000, tz=UTC):%Y-%m-%d}"


def archive_key(device_id: str, day_ms: int) -> str:
    """The S3 key of a device's readings of one UTC day."""
    return f"{PREFIX}date={day_text(day_ms)}/device={device_id}/readings.jsonl.gz"


def archived_line(item: Mapping[str, Any]) -> dict[str, Any]:
    """One stored raw item (DynamoDB's attribute-value form) as the archive's JSON object: ts, seq, the
    metrics as stored (calibrated), the uncalibrated values when the device has a calibration, received_at."""
    line: dict[str, Any] = {
        "ts": int(item["ts"]["N"]),
        "seq": int(item["seq"]["N"]),
        "metrics": json.loads(item["metrics"]["S"]),
    }
    if "uncalibrated" in item:
        line["uncalibrated"] = json.loads(item["uncalibrated"]["S"])
    if "received_at" in item:
        line["receivedAt"] = int(item["received_at"]["N"])
    return line


def encode_lines(lines: Iterable[Mapping[str, Any]]) -> bytes:
    """Gzip'd JSON lines, byte-for-byte the same for the same readings (sorted keys, no gzip mtime or name)."""
    text = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as out:
        out.write(text.encode())
    return buffer.getvalue()


def decode_lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines() if line]


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class ArchiveDamaged(RuntimeError):
    """An archive record without its object, or an object that does not match the record's digest."""


def verified_lines(key: str, sha256: str, body: bytes | None) -> list[dict[str, Any]]:
    """The lines of the archived object `key` (None: S3 has no such object), checked against its record's
    digest: ArchiveDamaged rather than a history or a re-roll with a silent gap."""
    if body is None:
        raise ArchiveDamaged(f"the archive record {key} has no object")
    if digest(body) != sha256:
        raise ArchiveDamaged(f"the archived object {key} does not match its record")
    return decode_lines(body)
