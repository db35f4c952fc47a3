"""DynamoDB storage of decision 0016's rollups, in the rollups table, through a DynamoDB client.

Keys (beside decision 0003's `<device>#15m|1h|1d` buckets, which the transaction path still writes):

- `<device>#hour`, bucket = hour start: `b` the hour's four 15-minute buckets (gridshare.telemetry.
  rollup_items), `raw_n` the raw readings the job folded for it;
- `<device>#day`, bucket = day start: `t` the day's totals;
- `<device>#dirty`, bucket = a late reading's ts: written by ingest, deleted by the job once re-rolled;
- `_rollup#cursor`, bucket = segment (0 without segments): where that segment's pass over the device
  registry continues (`after`), for the segmentation it was saved under (`total`).

Every write is an overwrite (the job's items are a function of the raw data), in BatchWriteItem requests
of 25 with unprocessed items sent again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gridshare.telemetry.reroll import BucketTotals
from gridshare.telemetry.rollup_items import decode_day, decode_hour, encode_day, encode_hour

BATCH = 25  # BatchWriteItem's bound
MAX_BATCH_ATTEMPTS = 8
CURSOR_PK = "_rollup#cursor"


class UnprocessedWrites(RuntimeError):
    """DynamoDB kept returning unprocessed items (throttling): the run fails and is retried whole."""


class RollupItemStore:
    def __init__(self, ddb: Any, table: str) -> None:
        self.ddb = ddb
        self.table = table

    # ------------------------------------------------------------ writes
    def write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25; unprocessed items are sent again (a bounded number of times)."""
        for first in range(0, len(requests), BATCH):
            pending = requests[first : first + BATCH]
            for _ in range(MAX_BATCH_ATTEMPTS):
                result = self.ddb.batch_write_item(RequestItems={self.table: pending})
                pending = (result.get("UnprocessedItems") or {}).get(self.table, [])
                if not pending:
                    break
            else:
                raise UnprocessedWrites(f"{len(pending)} rollup writes stayed unprocessed")

    def hour_put(self, device_id: str, hour: int, fine: dict[int, BucketTotals], raw_n: int) -> dict[str, Any]:
        item = {
            "pk": {"S": f"{device_id}#hour"},
            "bucket": {"N": str(hour)},
            "b": {"S": encode_hour(hour, fine)},
            "raw_n": {"N": str(raw_n)},
        }
        return {"PutRequest": {"Item": item}}

    def day_put(self, device_id: str, day: int, totals: BucketTotals) -> dict[str, Any]:
        item = {"pk": {"S": f"{device_id}#day"}, "bucket": {"N": str(day)}, "t": {"S": encode_day(totals)}}
        return {"PutRequest": {"Item": item}}

    def dirty_delete(self, device_id: str, ts: int) -> dict[str, Any]:
        return {"DeleteRequest": {"Key": {"pk": {"S": f"{device_id}#dirty"}, "bucket": {"N": str(ts)}}}}

    def mark_dirty(self, device_id: str, ts: int) -> None:
        """Ingest: a reading at `ts` was stored late; the job re-rolls what it changes."""
        self.ddb.put_item(TableName=self.table, Item={"pk": {"S": f"{device_id}#dirty"}, "bucket": {"N": str(ts)}})

    # ------------------------------------------------------------ reads
    def _query(
        self, pk: str, low: int, high: int, *, newest_first: bool = False, limit: int | None = None
    ) -> Iterator[Any]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND bucket BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":low": {"N": str(low)}, ":high": {"N": str(high)}},
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

    def hours(self, device_id: str, start: int, end: int) -> dict[int, dict[int, BucketTotals]]:
        """Stored hours starting in [start, end): hour start -> its 15-minute buckets."""
        out: dict[int, dict[int, BucketTotals]] = {}
        for item in self._query(f"{device_id}#hour", start, end - 1):
            hour = int(item["bucket"]["N"])
            out[hour] = decode_hour(hour, item["b"]["S"])
        return out

    def days(self, device_id: str, start: int, end: int) -> dict[int, BucketTotals]:
        """Stored days starting in [start, end): day start -> totals."""
        return {
            int(item["bucket"]["N"]): decode_day(item["t"]["S"])
            for item in self._query(f"{device_id}#day", start, end - 1)
        }

    def _last(self, pk: str) -> int | None:
        for item in self._query(pk, 0, 2**53, newest_first=True, limit=1):
            return int(item["bucket"]["N"])
        return None

    def last_hour(self, device_id: str) -> int | None:
        return self._last(f"{device_id}#hour")

    def last_day(self, device_id: str) -> int | None:
        return self._last(f"{device_id}#day")

    def dirty(self, device_id: str) -> list[int]:
        """The ts of the device's late readings not re-rolled yet, oldest first."""
        return [int(item["bucket"]["N"]) for item in self._query(f"{device_id}#dirty", 0, 2**53)]

    # ------------------------------------------------------------ the job's continuation
    def cursor(self, segment: int = 0, total: int = 1) -> dict[str, Any] | None:
        """The segment's registry position; None (start over) when saved under another segmentation."""
        item = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": CURSOR_PK}, "bucket": {"N": str(segment)}}, ConsistentRead=True
        ).get("Item")
        if not item or "after" not in item or int(item.get("total", {"N": "1"})["N"]) != total:
            return None
        after: dict[str, Any] = json.loads(item["after"]["S"])
        return after

    def save_cursor(self, after: dict[str, Any] | None, at: int, segment: int = 0, total: int = 1) -> None:
        item: dict[str, Any] = {
            "pk": {"S": CURSOR_PK},
            "bucket": {"N": str(segment)},
            "at": {"N": str(at)},
            "total": {"N": str(total)},
        }
        if after is not None:
            item["after"] = {"S": json.dumps(after, sort_keys=True)}
        self.ddb.put_item(TableName=self.table, Item=item)
