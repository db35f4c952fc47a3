"""The write path of decision 0016 (the default; GS_TELEMETRY_WRITE_PATH=transaction selects 0003's).

Ingest writes the raw item alone, with a condition that makes a redelivery a duplicate (and one dirty
marker for a late reading); the latest reading and the counter state are the newest raw item; rollups are
the rollup job's stored hours and days (gridshare.telemetry.rollup_job) for what it has closed, and
computed on read from the raw readings with the same `reroll.fold` for the rest (the open hour, the open
day, hours a late reading changed), so a reading is in every resolution as soon as it is stored.

Each device has one more item in the raw table, `<device>#first` (no TTL): the time of its oldest
stored reading, written before the first reading it bounds (decision 0016, addendum). A look-back for the
newest or oldest reading that finds nothing in its first day partition reads it once and searches no
partition before it, so a range before a device's first reading costs a Query and a GetItem, not 32 Queries.
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import ClientError

from gridshare.telemetry.readings import RESOLUTIONS, SPLIT_CAP_MS, CounterState, Reading
from gridshare.telemetry.reroll import BucketTotals, affected_span, coarsen, fold, ordered
from gridshare.telemetry.rollup_items import HOUR_MS, floor_day, floor_hour, hours_of_span, runs
from gridshare.telemetry.rollup_store import RollupItemStore

DAY_MS = 86_400_000
# How far back a baseline or latest reading is searched; raw readings are kept at least this long
# (retention.BASELINE_LOOKBACK_DAYS, checked by the retention policy; decision 0024).
LOOKBACK_DAYS = 32


def enabled() -> bool:
    """Decision 0016's path unless GS_TELEMETRY_WRITE_PATH=transaction (decision 0003's, kept selectable for
    one release)."""
    return os.environ.get("GS_TELEMETRY_WRITE_PATH", "raw") != "transaction"


def _day_key(device_id: str, ts: int) -> str:
    from gridshare.telemetry.store import day_key

    return day_key(device_id, ts)


FIRST_SK = {"S": "first"}
_LOWER = "attribute_exists(pk) AND #ts > :ts"  # lower an existing marker, never create one
_CREATE_OR_LOWER = "attribute_not_exists(pk) OR #ts > :ts"


def first_key(device_id: str) -> dict[str, dict[str, str]]:
    """The key of the device's `first` marker in the raw table (never a day partition: no digits)."""
    return {"pk": {"S": f"{device_id}#first"}, "sk": FIRST_SK}


def note_first(ddb: Any, table: str, device_id: str, ts: int, *, create: bool) -> bool:
    """Lower the device's `first` marker to `ts` (or, with `create`, write it when there is none): one
    conditional UpdateItem, a no-op when the marker is already at or before `ts`. Returns whether it wrote.

    `create` only when the device has no reading in the look-back (no counter state): a marker then says
    "nothing before this" for everything readers search. A device stored before markers existed has
    none, and a reading behind its newest must not create one (older readings may exist): readers of a
    device without a marker search the whole look-back, as before."""
    try:
        ddb.update_item(
            TableName=table,
            Key=first_key(device_id),
            UpdateExpression="SET #ts = :ts",
            ConditionExpression=_CREATE_OR_LOWER if create else _LOWER,
            ExpressionAttributeNames={"#ts": "ts"},
            ExpressionAttributeValues={":ts": {"N": str(ts)}},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _reading(device_id: str, item: dict[str, Any]) -> Reading:
    return Reading(
        device_id=device_id,
        ts=int(item["ts"]["N"]),
        seq=int(item["seq"]["N"]),
        metrics=json.loads(item["metrics"]["S"]),
    )


class RawStore:
    """Raw-only storage and reads on the telemetry raw table (`table`), through a DynamoDB client."""

    def __init__(self, ddb: Any, table: str, items: RollupItemStore | None = None) -> None:
        self.ddb = ddb
        self.table = table
        self.items = items  # the job's stored hours and days; None: every bucket computed from raw

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

    def first(self, device_id: str) -> int | None:
        """The device's `first` marker (one strongly consistent GetItem); None when it has none."""
        item = self.ddb.get_item(TableName=self.table, Key=first_key(device_id), ConsistentRead=True).get("Item")
        return int(item["ts"]["N"]) if item else None

    def newest(self, device_id: str, before: int, stop: int) -> dict[str, Any] | None:
        """The newest raw item with ts < `before`, searching day partitions back to `stop` (exclusive), and
        never before the device's `first` marker (read once the first partition held nothing, when more
        than two partitions are left to search)."""
        day = (before - 1) // DAY_MS * DAY_MS
        bounded = False
        while day + DAY_MS > stop:
            for item in self._query_day(device_id, day, "0", f"{before - 1:013d}#~", True, 1):
                return dict(item)
            day -= DAY_MS
            if not bounded and day + DAY_MS - stop > 2 * DAY_MS:
                bounded = True
                first = self.first(device_id)
                if first is not None:
                    stop = max(stop, first)
        return None

    def oldest(self, device_id: str, after: int, stop: int) -> dict[str, Any] | None:
        """The oldest raw item with ts >= `after`, searching day partitions forward up to `stop`; a search
        longer than the split cap's reach (the rollup job's, from its horizon) starts at the device's
        `first` marker when it is later (read once the first partition held nothing). The shorter search
        for the reading after a span is not bounded by it: that reading is past the device's first."""
        day = after // DAY_MS * DAY_MS
        bounded = stop - after <= SPLIT_CAP_MS + DAY_MS
        while day < stop:
            for item in self._query_day(device_id, day, f"{after:013d}#", "~", False, 1):
                return dict(item)
            day += DAY_MS
            if not bounded:
                bounded = True
                first = self.first(device_id)
                if first is not None:
                    day = max(day, first // DAY_MS * DAY_MS)
        return None

    def between(self, device_id: str, start: int, end: int) -> list[Reading]:
        out: list[Reading] = []
        for day in range(start // DAY_MS * DAY_MS, end, DAY_MS):
            items = self._query_day(device_id, day, f"{start:013d}#", f"{end - 1:013d}#~", False, None)
            out.extend(_reading(device_id, item) for item in items)
        return out

    def latest(self, device_id: str, now: int) -> dict[str, Any] | None:
        item = self.newest(device_id, now + DAY_MS, now - LOOKBACK_DAYS * DAY_MS)
        if item is None:
            return None
        return {
            "ts": int(item["ts"]["N"]),
            "seq": int(item["seq"]["N"]),
            "metrics": json.loads(item["metrics"]["S"]),
            "receivedAt": int(item.get("received_at", item["ts"])["N"]),
        }

    def counter_state(self, device_id: str, now: int, counters: tuple[str, ...]) -> CounterState | None:
        item = self.newest(device_id, now + DAY_MS, now - LOOKBACK_DAYS * DAY_MS)
        if item is None:
            return None
        reading = _reading(device_id, item)
        values = {name: int(reading.metrics[name]) for name in counters if name in reading.metrics}
        return CounterState(ts=reading.ts, seq=reading.seq, counters=values)

    def fold_span(self, device_id: str, start: int, end: int) -> tuple[dict[int, BucketTotals], dict[int, int]]:
        """The 15-minute buckets in [start, end) (multiples of 15 minutes), recomputed whole from raw: the
        span's readings, the baseline before it and the reading after it (whose energy spreads back);
        and how many raw readings each hour of the span holds."""
        base_item = self.newest(device_id, start, start - LOOKBACK_DAYS * DAY_MS)
        readings: list[Reading] = []
        if base_item is not None:  # the baseline: every counter's last value before the span
            readings.append(_reading(device_id, base_item))
        inside = ordered(self.between(device_id, start, end))
        readings.extend(inside)
        following = self.oldest(device_id, end, end + SPLIT_CAP_MS + DAY_MS)
        if following is not None:  # its energy spreads back into the span's last buckets
            readings.append(_reading(device_id, following))
        fine, _ = fold(readings, None)
        counts: dict[int, int] = {}
        for reading in inside:
            hour = floor_hour(reading.ts)
            counts[hour] = counts.get(hour, 0) + 1
        return {b: t for b, t in fine.items() if start <= b < end}, counts

    def span_of(self, device_id: str, ts: int) -> tuple[int, int]:
        """The 15-minute buckets [first, last] a reading at `ts` changes (`reroll.affected_span`, with its
        stored neighbours)."""
        before = self.newest(device_id, ts, ts - SPLIT_CAP_MS - DAY_MS)
        after = self.oldest(device_id, ts + 1, ts + SPLIT_CAP_MS + DAY_MS)
        return affected_span(
            ts,
            int(before["ts"]["N"]) if before is not None else None,
            int(after["ts"]["N"]) if after is not None else None,
            SPLIT_CAP_MS,
        )

    def pending_hours(self, device_id: str) -> set[int]:
        """Hours that late readings changed and the job has not re-rolled yet (their items are stale)."""
        if self.items is None:
            return set()
        out: set[int] = set()
        for ts in self.items.dirty(device_id):
            out.update(hours_of_span(*self.span_of(device_id, ts)))
        return out

    def _fine(
        self, device_id: str, resolution: str, first: int, stop: int
    ) -> tuple[dict[int, BucketTotals], dict[int, BucketTotals]]:
        """The 15-minute buckets of [first, stop) not covered by a stored day, and the stored days used.

        Closed hours (and, at 1d, closed days) come from the job's items; the hours it has not stored
        (the open hour, the open day's, pending late readings') are recomputed from raw with the same
        fold, so a reading is in every resolution as soon as it is stored."""
        if self.items is None:
            return self.fold_span(device_id, first, stop)[0], {}
        pending = self.pending_hours(device_id)
        low, high = floor_hour(first), floor_hour(stop - 1) + HOUR_MS
        days: dict[int, BucketTotals] = {}
        if resolution == "1d":
            days = {
                day: totals
                for day, totals in self.items.days(device_id, first, stop).items()
                if not any(day <= hour < day + DAY_MS for hour in pending)
            }
        hours = [h for h in range(low, high, HOUR_MS) if floor_day(h) not in days]
        stored: dict[int, dict[int, BucketTotals]] = {}
        for a, b in runs(hours):
            stored.update(self.items.hours(device_id, a, b))
        fine: dict[int, BucketTotals] = {}
        missing = []
        for hour in hours:
            if hour in stored and hour not in pending:
                fine.update(stored[hour])
            else:
                missing.append(hour)
        for a, b in runs(missing):
            fine.update(self.fold_span(device_id, a, b)[0])
        return {b: t for b, t in fine.items() if first <= b < stop}, days

    def rollups(
        self, device_id: str, resolution: str, start: int, end: int, limit: int, after: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The buckets the per-reading ADDs would hold, in the store's row format: stored items for what the
        job has closed, recomputed from raw for the rest."""
        size = RESOLUTIONS[resolution]
        low = after + 1 if after is not None else start
        first = -(-low // size) * size  # the first bucket start >= low
        if first > end - 1:
            return [], None
        stop = (end - 1) // size * size + size  # past the last bucket that starts before `end`
        rows: list[dict[str, Any]] = []
        # A page needs `limit` + 1 buckets, not the whole range: read a window, doubling it while short.
        window = max(size * (limit + 1), DAY_MS)
        chunk = first
        while chunk < stop and len(rows) <= limit:
            chunk_end = min(stop, chunk + window)
            fine, days = self._fine(device_id, resolution, chunk, chunk_end)
            buckets = coarsen(fine, resolution)
            buckets.update(days)
            for bucket_start in sorted(b for b in buckets if chunk <= b <= min(chunk_end, end) - 1):
                totals = buckets[bucket_start]
                if totals.n == 0 and not totals.energy:
                    continue
                rows.append(
                    {
                        "bucket": bucket_start,
                        "n": totals.n,
                        "sums": {name: float(value) for name, value in totals.sums.items()},
                        "counts": dict(totals.counts),
                        "energy": dict(totals.energy),
                    }
                )
            chunk, window = chunk_end, window * 2
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1]["bucket"]
        return rows, None
