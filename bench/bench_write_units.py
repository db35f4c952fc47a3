"""DynamoDB write units per accepted reading, counted from the requests the telemetry store sends.

A day of readings from one 15-minute meter and from one 1-minute meter (power, voltage and a cumulative
import counter, in order, every tenth message delivered twice as SQS may) runs through the real
`TelemetryService.process` against moto. A wrapper around the store's DynamoDB client counts the write
units of every request it forwards, the way DynamoDB bills them on demand:

- a write of an item costs ceil(item size / 1 KB) units, the size being the sum of its attribute names
  and values (UTF-8 text, numbers ~ digits / 2 + 1, as DynamoDB documents);
- an update is counted with the item it writes (the rollup attributes it adds to the key), so the same
  rule applies; a transactional write (TransactWriteItems) costs twice that for each of its items;
- a write whose condition fails costs 1 unit (per item; x2 inside a transaction, as it is billed);
- BatchWriteItem counts each put like a plain put.

Reads are not counted (they are priced apart, at a fifth of a write per 4 KB eventually consistent).

On the raw path (decision 0016, the default) the rollup job runs every hour of the simulated day on the
same counting client (its hour, day and cursor items, dirty-marker deletes), and its units are reported
apart and in the total. `GS_TELEMETRY_WRITE_PATH=transaction` measures decision 0003's path.

    .venv/bin/python bench/bench_write_units.py            # both meters, one day
    .venv/bin/python bench/bench_write_units.py --days 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "gridshare"), str(ROOT / "local"), str(ROOT)]
for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "Gridshare",
}.items():
    os.environ.setdefault(key, value)
os.environ.pop("AWS_ENDPOINT_URL", None)

from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

from gridshare.devices.models import TABLES as DEVICE_TABLES  # noqa: E402 - the layer is not installed as a script
from gridshare.devices.service import DeviceRef  # noqa: E402
from gridshare.kernel import clock  # noqa: E402
from gridshare.kernel.aws import client  # noqa: E402
from gridshare.kernel.clock import now_ms  # noqa: E402
from gridshare.telemetry import raw_store  # noqa: E402
from gridshare.telemetry.models import TABLES, RawReadingModel, RollupModel  # noqa: E402
from gridshare.telemetry.rollup_items import DAY_MS, HOUR_MS, floor_day, floor_hour  # noqa: E402
from gridshare.telemetry.rollup_job import RollupJob  # noqa: E402
from gridshare.telemetry.rollup_store import RollupItemStore  # noqa: E402
from gridshare.telemetry.service import IngestOutcome, TelemetryService  # noqa: E402
from gridshare.telemetry.store import TelemetryStore  # noqa: E402
from gridshare_local.moto_patches import install_fast_transactions  # noqa: E402

KB = 1024


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) for v in inner)
    return len(json.dumps(inner))


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _units(item: dict[str, Any]) -> int:
    return max(1, math.ceil(item_size(item) / KB))


def _update_item(update: dict[str, Any]) -> dict[str, Any]:
    """The attributes an update writes: its key plus every value it sets or adds, under its real name."""
    names = update.get("ExpressionAttributeNames", {})
    values = update.get("ExpressionAttributeValues", {})
    item = dict(update["Key"])
    expression = update.get("UpdateExpression", "")
    for part in expression.replace("ADD", ",").replace("SET", ",").split(","):
        tokens = part.replace("=", " ").split()
        if len(tokens) == 2 and tokens[1] in values:
            item[names.get(tokens[0], tokens[0])] = values[tokens[1]]
    return item


class CountingDynamoDB:
    """Forwards every call to the real client and adds up the write units of the writes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.units = 0
        self.read_units = 0.0
        self.requests: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.requests[name] = self.requests.get(name, 0) + 1

    def put_item(self, **kwargs: Any) -> Any:
        self._count("PutItem")
        try:
            result = self._inner.put_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                self.units += 1
            raise
        self.units += _units(kwargs["Item"])
        return result

    def update_item(self, **kwargs: Any) -> Any:
        self._count("UpdateItem")
        try:
            result = self._inner.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                self.units += 1
            raise
        self.units += _units(_update_item(kwargs))
        return result

    def batch_write_item(self, **kwargs: Any) -> Any:
        self._count("BatchWriteItem")
        result = self._inner.batch_write_item(**kwargs)
        unprocessed = result.get("UnprocessedItems") or {}
        for table, requests in kwargs["RequestItems"].items():
            skipped = len(unprocessed.get(table, []))
            for request in requests[: len(requests) - skipped]:
                if "PutRequest" in request:
                    self.units += _units(request["PutRequest"]["Item"])
                else:
                    self.units += 1
        return result

    def _read(self, name: str, kwargs: dict[str, Any], items: list[dict[str, Any]]) -> None:
        """Read request units: ceil(bytes returned / 4 KB), at least 1; half for an eventually consistent read."""
        self._count(name)
        units = max(1, math.ceil(sum(item_size(i) for i in items) / (4 * KB)))
        self.read_units += units if kwargs.get("ConsistentRead") else units / 2

    def query(self, **kwargs: Any) -> Any:
        result = self._inner.query(**kwargs)
        self._read("Query", kwargs, result.get("Items", []))
        return result

    def get_item(self, **kwargs: Any) -> Any:
        result = self._inner.get_item(**kwargs)
        self._read("GetItem", kwargs, [result["Item"]] if "Item" in result else [])
        return result

    def transact_write_items(self, **kwargs: Any) -> Any:
        self._count("TransactWriteItems")
        items = kwargs["TransactItems"]
        try:
            result = self._inner.transact_write_items(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                self.units += 2 * len(items)
            raise
        for action in items:
            if "Put" in action:
                self.units += 2 * _units(action["Put"]["Item"])
            elif "Update" in action:
                self.units += 2 * _units(_update_item(action["Update"]))
            else:
                self.units += 2
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _registered(thing_name: str) -> DeviceRef | None:
    """The device lookup answered from memory (the registry is not under test)."""
    return DeviceRef(id=f"dev-{thing_name}", owner_id="owner", thing_name=thing_name, type="meter")


def _job(counting: CountingDynamoDB, device_id: str) -> RollupJob | None:
    """The rollup job of decision 0016 on the counting client, over the one device (raw path only)."""
    if not raw_store.enabled():
        return None
    items = RollupItemStore(counting, RollupModel.Meta.table_name)
    raw = raw_store.RawStore(counting, RawReadingModel.Meta.table_name, items)
    return RollupJob(raw=raw, items=items, device_page=lambda limit, after, segment: ([device_id], None))


def run_meter(interval_s: int, days: int, thing: str) -> dict[str, Any]:
    """`days` whole UTC days of readings, the clock at each reading's arrival; on the raw path the rollup job
    runs every hour, as scheduled, on the same counting client. The first reading of the next day is sent
    uncounted, so that the last hour is final and the job stores every hour and day of the period."""
    counting = CountingDynamoDB(client("dynamodb"))
    service = TelemetryService(store=TelemetryStore(ddb=counting), find_device=_registered)
    job_device = f"dev-{thing}"
    job = _job(counting, job_device)
    start = floor_day(now_ms()) - (days + 1) * DAY_MS
    count = days * 86_400 // interval_s
    energy = 1_000_000
    accepted = duplicates = 0
    job_units = job_runs = 0
    job_reads = 0.0
    last_run = start

    def message(i: int) -> bytes:
        metrics = {"power_w": 500.0 + i % 7, "voltage_v": 230.0, "energy_import_wh": energy}
        return json.dumps({"ts": start + i * interval_s * 1000, "seq": i, "metrics": metrics}).encode()

    def run_job(at: int) -> None:
        nonlocal job_units, job_runs, job_reads
        if job is not None:
            before, reads_before = counting.units, counting.read_units
            job.roll_device(job_device, at)  # the per-device work of a run (its cursor write is per run, fleet-wide)
            job_units += counting.units - before
            job_reads += counting.read_units - reads_before
            job_runs += 1

    with clock.frozen(start) as frozen:
        for i in range(count):
            ts = start + i * interval_s * 1000
            if floor_hour(ts) > last_run:  # the hourly schedule fires (at the hour, before this reading)
                last_run = floor_hour(ts)
                frozen.set(last_run)
                run_job(last_run)
            frozen.set(ts + 500)
            energy += 500 * interval_s // 3600 + 1  # ~500 W
            deliveries = 2 if i % 10 == 9 else 1
            for _ in range(deliveries):
                outcome = service.process(thing, message(i), ts + 500).outcome
                if outcome is IngestOutcome.STORED:
                    accepted += 1
                elif outcome is IngestOutcome.DUPLICATE:
                    duplicates += 1
                else:
                    raise AssertionError(f"reading {i} was {outcome.value}")
        ingest_units = counting.units - job_units
        ingest_reads = counting.read_units - job_reads
        next_day = start + count * interval_s * 1000
        frozen.set(next_day + 500)
        service.process(thing, message(count), next_day + 500)  # uncounted: it closes the last hour
        counting.units = ingest_units + job_units
        counting.read_units = ingest_reads + job_reads
        for hour in range(next_day, next_day + 3 * HOUR_MS, HOUR_MS):
            frozen.set(hour)
            run_job(hour)
    return {
        "interval_s": interval_s,
        "readings": accepted,
        "duplicates": duplicates,
        "ingest_units": ingest_units,
        "job_units": job_units,
        "job_runs": job_runs,
        "ingest_read_units": ingest_reads,
        "job_read_units": job_reads,
        "write_units": ingest_units + job_units,
        "units_per_reading": (ingest_units + job_units) / accepted,
        "requests": counting.requests,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=1)
    args = parser.parse_args(argv)
    install_fast_transactions()  # the local stack's: moto deep-copies tables per transaction otherwise
    with mock_aws():
        for model in TABLES + DEVICE_TABLES:  # the devices tables: ingest notes the sender was seen (not counted)
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        results = [run_meter(900, args.days, "gs-meter-15m"), run_meter(60, args.days, "gs-meter-1m")]
    print(f"write path: {'raw (decision 0016)' if raw_store.enabled() else 'transaction (decision 0003)'}")
    for r in results:
        print(
            f"{r['interval_s'] // 60:>2}-minute meter: {r['readings']} readings (+{r['duplicates']} duplicate "
            f"deliveries), {r['write_units']} write units = {r['units_per_reading']:.2f} per reading "
            f"(ingest {r['ingest_units']} = {r['ingest_units'] / r['readings']:.2f}, rollup job {r['job_units']} "
            f"in {r['job_runs']} runs = {r['job_units'] / r['readings']:.2f}); read units: ingest "
            f"{r['ingest_read_units']:.0f}, job {r['job_read_units']:.0f}; requests {r['requests']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
