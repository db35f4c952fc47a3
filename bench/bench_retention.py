"""Storage of a meter's raw readings under tiered retention (decision 0024), and the archive job's requests.

A day of readings of a simulator-like meter (power, voltage, frequency, import and export counters; every
reading with its uncalibrated power, as a calibrated device stores) is written through ingest's store to
moto, then archived by the real archive job to moto S3. Reported per device-day:

- the raw items' billed size (DynamoDB's rule: attribute names + values, numbers ~ digits / 2 + 1, plus
  100 bytes of per-item overhead counted for storage), which the table holds for the retention;
- the archive object's size (gzip'd JSON lines) and the requests the job sent (Query pages, PutObject,
  PutItem), with the read units of the Query (eventually consistent: 4 KB per half unit);
- the requests of the hourly rollup job's visits to the device over the next day (decision 0016: what a
  visit costs, for the fleet-scale figures of the segmented job in docs/scaling.md);
- then the cost per meter-month at list prices (us-east-1): DynamoDB storage $0.25 per GB-month, on-demand
  reads $0.125 per million and writes $0.625 per million; S3 Standard $0.023 per GB-month, PUT $0.005 per
  1,000. A meter-month is 30 days.

    .venv/bin/python bench/bench_retention.py              # 15-minute and 1-minute meters, 35-day retention
    .venv/bin/python bench/bench_retention.py --retention-days 90
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "gridshare"), str(ROOT / "local"), str(ROOT), str(ROOT / "bench")]
for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "Gridshare",
    "GS_TELEMETRY_ARCHIVE_BUCKET": "bench-archive",
}.items():
    os.environ.setdefault(key, value)
os.environ.pop("AWS_ENDPOINT_URL", None)

from bench_write_units import item_size  # noqa: E402
from moto import mock_aws  # noqa: E402

from gridshare.kernel import clock  # noqa: E402
from gridshare.kernel.aws import client  # noqa: E402
from gridshare.telemetry.archive_job import ArchiveJob, archive_store, read_archived  # noqa: E402
from gridshare.telemetry.models import TABLES, RawReadingModel, RollupModel  # noqa: E402
from gridshare.telemetry.raw_store import RawStore  # noqa: E402
from gridshare.telemetry.readings import Reading  # noqa: E402
from gridshare.telemetry.retention import DAY_MS, RetentionPolicy  # noqa: E402
from gridshare.telemetry.rollup_items import HOUR_MS  # noqa: E402
from gridshare.telemetry.rollup_job import RollupJob  # noqa: E402
from gridshare.telemetry.rollup_store import RollupItemStore  # noqa: E402
from gridshare.telemetry.rollups import counter_state  # noqa: E402
from gridshare.telemetry.segments import Segment  # noqa: E402
from gridshare.telemetry.store import TelemetryStore, day_key  # noqa: E402

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each item for storage billing
DDB_GB_MONTH, S3_GB_MONTH, S3_PUT, RRU, WRU = 0.25, 0.023, 0.005 / 1000, 0.125e-6, 0.625e-6
GB = 1024**3


class Counting:
    """Forwards every call to a client and counts them by operation (and a Query's returned bytes)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls, self.query_bytes = inner, {}, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(**kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            result = method(**kwargs)
            if name == "query":
                self.query_bytes += sum(item_size(item) for item in result.get("Items", []))
            return result

        return call


def _day(device: str, interval_s: int, rng: random.Random) -> None:
    store = TelemetryStore(ddb=client("dynamodb"), raw_ttl_s=35 * 86_400)
    state, imported, exported = None, 4_000_000 + rng.randrange(10**6), 1_000_000
    for seq in range(86_400 // interval_s):
        ts = T0 + seq * interval_s * 1000 + rng.randrange(1000)
        net = rng.uniform(-3000, 4000)
        if net > 0:
            imported += round(net * interval_s / 3600)
        else:
            exported += round(-net * interval_s / 3600)
        metrics = {
            "power_w": round(net, 1),
            "voltage_v": round(rng.gauss(230, 2), 1),
            "frequency_hz": round(rng.gauss(50, 0.02), 3),
            "energy_import_wh": imported,
            "energy_export_wh": exported,
        }
        reading = Reading(device_id=device, ts=ts, seq=seq, metrics=metrics)
        new = counter_state(reading, state)
        uncalibrated = {"power_w": round(net / 1.02, 1)}
        with clock.frozen(ts + 800):  # delivered on time: not late, no dirty marker
            store.store(reading, [], state, new, ts + 800, uncalibrated=uncalibrated)
        state = new


def _rollup_visits(device: str) -> dict[str, Any]:
    """The rollup job's 24 hourly visits to the device through the day (each stores the hour that closed):
    requests per visit, by operation."""
    ddb = Counting(client("dynamodb"))
    items = RollupItemStore(ddb, RollupModel.Meta.table_name)
    raw = RawStore(ddb, RawReadingModel.Meta.table_name, items)
    job = RollupJob(raw=raw, items=items, device_page=lambda limit, after, segment: ([device], None))
    job.roll_device(device, T0 + HOUR_MS)  # the first visit looks for the oldest reading: not a steady one
    ddb.calls.clear()
    for hour in range(2, 26):
        job.roll_device(device, T0 + hour * HOUR_MS + 60_000)
    total = sum(ddb.calls.values())
    return {
        "requestsPerVisit": round(total / 24, 1),
        "byOperation": {k: round(v / 24, 2) for k, v in ddb.calls.items()},
    }


def run_meter(interval_s: int, retention_days: int) -> dict[str, Any]:
    device = f"01JBENCHMETER{interval_s:05d}"
    with mock_aws():
        for model in TABLES:
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        client("s3").create_bucket(Bucket=os.environ["GS_TELEMETRY_ARCHIVE_BUCKET"])
        _day(device, interval_s, random.Random(interval_s))
        items = client("dynamodb").query(
            TableName=RawReadingModel.Meta.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": day_key(device, T0)}},
        )["Items"]
        raw_bytes = sum(item_size(item) + ITEM_OVERHEAD for item in items)
        visits = _rollup_visits(device)
        store = archive_store()
        ddb, s3 = Counting(store.ddb), Counting(store.s3)
        store.ddb, store.s3 = ddb, s3
        policy = RetentionPolicy(raw_retention_days=retention_days)
        job = ArchiveJob(store=store, policy=policy, device_page=lambda limit, after, segment: ([device], None))
        started = time.perf_counter()
        result = job.run(Segment(), now=T0 + (policy.archive_lag_days + 1) * DAY_MS)
        elapsed = time.perf_counter() - started
        requests = {**ddb.calls, **s3.calls}  # one device, one page: the page's cursor read and write included
        record = store.record(device, T0)
        assert record is not None and result["readings"] == len(items)
        assert read_archived(device, T0, store) is not None
    per_month = 30
    query_rru = math.ceil(ddb.query_bytes / 4096) / 2
    # DynamoDB holds `retention_days` days of readings; S3 adds one month of objects a month (the figure is
    # what one month of archive costs to keep, a month; it accumulates for as long as it is kept).
    ddb_storage = raw_bytes * retention_days / GB * DDB_GB_MONTH
    s3_storage = record.size * per_month / GB * S3_GB_MONTH
    archive_requests = per_month * (s3.calls.get("put_object", 0) * S3_PUT + query_rru * RRU + WRU)
    return {
        "meter": f"every {interval_s // 60} min" if interval_s >= 60 else f"every {interval_s} s",
        "readingsPerDay": len(items),
        "rawBytesPerReading": round(raw_bytes / len(items)),
        "rawBytesPerDay": raw_bytes,
        "archiveBytesPerDay": record.size,
        "archiveBytesPerReading": round(record.size / len(items), 1),
        "compression": round(raw_bytes / record.size, 1),
        "jobRequests": requests,
        "jobQueryRru": query_rru,
        "jobSecondsOnMoto": round(elapsed, 3),
        "rollupVisit": visits,
        "perMeterMonth": {
            f"dynamodbStorage{retention_days}d": round(ddb_storage, 6),
            "dynamodbStorageWithoutTtlAfterAYear": round(raw_bytes * 365 / GB * DDB_GB_MONTH, 6),
            "s3StorageOfOneMonth": round(s3_storage, 7),
            "archiveRequests": round(archive_requests, 6),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retention-days", type=int, default=35)
    args = parser.parse_args(argv)
    for interval in (900, 60):
        print(json.dumps(run_meter(interval, args.retention_days), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
