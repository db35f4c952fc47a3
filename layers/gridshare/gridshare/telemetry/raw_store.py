"""The write path of decision 0016 (proposed), behind GS_TELEMETRY_WRITE_PATH=raw: one put per reading.

Ingest writes the raw item alone, with a condition that makes a redelivery a duplicate; the latest
reading and the counter state are the newest raw item; rollups are computed on read from the raw
readings with `reroll.fold` (what the rollup job will store for closed hours; it is not built yet, so
in this mode rollups reach back only as far as raw readings are kept). Off by default: decision 0003's
transaction is what runs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import ClientError

from gridshare.telemetry.readings import RESOLUTIONS, SPLIT_CAP_MS, CounterState, Reading
from gridshare.telemetry.reroll import coarsen, fold

DAY_MS = 86_400_000
LOOKBACK_DAYS = 32  # how far back a baseline or latest reading is searched (raw readings live 30 days)


def enabled() -> bool:
    return os.environ.get("GS_TELEMETRY_WRITE_PATH", "transaction") == "raw"


def _day_key(device_id: str, ts: int) -> str:
    from gridshare.telemetry.store import day_key

    return day_key(device_id, ts)


def _reading(device_id: str, item: dict[str, Any]) -> Reading:
    return Reading(
        device_id=device_id,
        ts=int(item["ts"]["N"]),
        seq=int(item["seq"]["N"]),
        metrics=json.loads(item["metrics"]["S"]),
    )


class RawStore:
    """Raw-only storage and reads on the telemetry raw table (`table`), through a DynamoDB client."""

    def __init__(self, ddb: Any, table: str) -> None:
        self.ddb = ddb
        self.table = table

    def put(self, item: dict[str, Any], received_at: int) -> bool:
        """Store a raw item once: False when the same (ts, seq) is already stored (a redelivery)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={**item, "received_at": {"N": str(received_at)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _query_day(self, device_id: str, day: int, low: str, high: str, newest_first: bool, limit: int | None) -> Any:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": _day_key(device_id, day)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if limit is not None:
            kwargs["Limit"] = limit
        while True:
            result = self.ddb.query(**kwargs)
            yield from result.get("Items", [])
            if limit is not None or "LastEvaluatedKey" not in result:
                return
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def newest(self, device_id: str, before: int, stop: int) -> dict[str, Any] | None:
        """The newest raw item with ts < `before`, searching day partitions back to `stop` (exclusive)."""
        day = (before - 1) // DAY_MS * DAY_MS
        while day + DAY_MS > stop:
            for item in self._query_day(device_id, day, "0", f"{before - 1:013d}#~", True, 1):
                return dict(item)
            day -= DAY_MS
        return None

    def oldest(self, device_id: str, after: int, stop: int) -> dict[str, Any] | None:
        """The oldest raw item with ts >= `after`, searching day partitions forward up to `stop`."""
        day = after // DAY_MS * DAY_MS
        while day < stop:
            for item in self._query_day(device_id, day, f"{after:013d}#", "~", False, 1):
                return dict(item)
            day += DAY_MS
        return None

    def between(self, device_id: str, start: int, end: int) -> list[Reading]:
        out: list[Reading] = []
        for day in range(start // DAY_MS * DAY_MS, end, DAY_MS):
            items = self._query_day(device_id, day, f"{start:013d}#", f"{end - 1:013d}#~", False, None)
            out.extend(_reading(device_id, item) for item in items)
        return out

    def latest(self, device_id: str, now: int) -> dict[str, Any] | None:
        item = self.newest(device_id, now + 10 * DAY_MS, now - LOOKBACK_DAYS * DAY_MS)
        if item is None:
            return None
        return {
            "ts": int(item["ts"]["N"]),
            "seq": int(item["seq"]["N"]),
            "metrics": json.loads(item["metrics"]["S"]),
            "receivedAt": int(item.get("received_at", item["ts"])["N"]),
        }

    def counter_state(self, device_id: str, now: int, counters: tuple[str, ...]) -> CounterState | None:
        item = self.newest(device_id, now + 10 * DAY_MS, now - LOOKBACK_DAYS * DAY_MS)
        if item is None:
            return None
        reading = _reading(device_id, item)
        values = {name: int(reading.metrics[name]) for name in counters if name in reading.metrics}
        return CounterState(ts=reading.ts, seq=reading.seq, counters=values)

    def rollups(
        self, device_id: str, resolution: str, start: int, end: int, limit: int, after: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The buckets the per-reading ADDs would hold, in the store's row format, computed from raw."""
        size = RESOLUTIONS[resolution]
        low = after + 1 if after is not None else start
        first = -(-low // size) * size  # the first bucket start >= low
        if first > end - 1:
            return [], None
        stop = (end - 1) // size * size + size  # past the last bucket that starts before `end`
        base_item = self.newest(device_id, first, first - LOOKBACK_DAYS * DAY_MS)
        before: CounterState | None = None
        readings: list[Reading] = []
        if base_item is not None:  # the baseline: every counter's last value before the window
            readings.append(_reading(device_id, base_item))
        readings.extend(self.between(device_id, first, stop))
        following = self.oldest(device_id, stop, stop + SPLIT_CAP_MS + DAY_MS)
        if following is not None:  # its energy spreads back into the window's last buckets
            readings.append(_reading(device_id, following))
        fine, _ = fold(readings, before)
        buckets = coarsen(fine, resolution)
        rows: list[dict[str, Any]] = []
        for bucket_start in sorted(b for b in buckets if first <= b <= end - 1):
            totals = buckets[bucket_start]
            rows.append(
                {
                    "bucket": bucket_start,
                    "n": totals.n,
                    "sums": {name: float(value) for name, value in totals.sums.items()},
                    "counts": dict(totals.counts),
                    "energy": dict(totals.energy),
                }
            )
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1]["bucket"]
        return rows, None
