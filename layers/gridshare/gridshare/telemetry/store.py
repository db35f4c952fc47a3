"""DynamoDB storage of readings: one TransactWriteItems per reading.

The transaction holds a conditional put of the sequence marker (so a redelivered message stores once),
the raw reading, an atomic ADD into each rollup bucket, and, when the reading is the newest, an update of
the latest item conditioned on the previous latest timestamp. That condition makes concurrent readings of
one device (SQS does not order them) retry instead of counting the same counter delta twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from gridshare.kernel.aws import client
from gridshare.kernel.deadline import NEVER, Deadline
from gridshare.telemetry.models import LatestReadingModel, RawReadingModel, RollupModel
from gridshare.telemetry.readings import CounterState, Reading, RollupDelta

DAY_MS = 86_400_000
MAX_RAW_DAYS = 32  # day partitions of one raw history page: 31 days not starting at midnight touch 32


class StoreOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # same seq and ts already stored: a redelivery
    SEQ_REUSED = "seq_reused"  # same seq with another ts: the device reused a sequence number
    STALE_LATEST = "stale_latest"  # another reading advanced the latest first: recompute and retry


def day_key(device_id: str, ts: int) -> str:
    return f"{device_id}#{datetime.fromtimestamp(ts / 1000, tz=UTC):%Y%m%d}"


def raw_sort_key(ts: int, seq: int) -> str:
    return f"{ts:013d}#{seq:010d}"


def _strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row.pop("_key")
    return rows


def _num(value: float | int | bool) -> dict[str, str]:
    if isinstance(value, bool):
        value = int(value)
    return {"N": str(Decimal(str(value)))}


def _safe(name: str) -> str:
    return name.replace("-", "_")


@dataclass
class TelemetryStore:
    raw_ttl_s: int = 30 * 86400
    marker_ttl_s: int = 9 * 86400

    @property
    def _ddb(self) -> Any:
        return client("dynamodb")

    def counter_state(self, device_id: str) -> CounterState | None:
        item = self._ddb.get_item(
            TableName=LatestReadingModel.Meta.table_name,
            Key={"device_id": {"S": device_id}},
            ConsistentRead=True,
            ProjectionExpression="#ts, #seq, #c",
            ExpressionAttributeNames={"#ts": "ts", "#seq": "seq", "#c": "counters"},
        ).get("Item")
        if not item:
            return None
        return CounterState(
            ts=int(item["ts"]["N"]), seq=int(item["seq"]["N"]), counters=json.loads(item["counters"]["S"])
        )

    def store(
        self,
        reading: Reading,
        deltas: list[RollupDelta],
        previous: CounterState | None,
        new_state: CounterState,
        received_at: int,
    ) -> StoreOutcome:
        raw_table = RawReadingModel.Meta.table_name
        rollup_table = RollupModel.Meta.table_name
        metrics_json = json.dumps(reading.metrics, separators=(",", ":"))
        marker_expiry = str(received_at // 1000 + self.marker_ttl_s)
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": raw_table,
                    "Item": {
                        "pk": {"S": f"{reading.device_id}#SEQ"},
                        "sk": {"S": f"{reading.seq:010d}"},
                        "ts": {"N": str(reading.ts)},
                        "expires_at": {"N": marker_expiry},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": raw_table,
                    "Item": {
                        "pk": {"S": day_key(reading.device_id, reading.ts)},
                        "sk": {"S": raw_sort_key(reading.ts, reading.seq)},
                        "ts": {"N": str(reading.ts)},
                        "seq": {"N": str(reading.seq)},
                        "metrics": {"S": metrics_json},
                        "expires_at": {"N": str(reading.ts // 1000 + self.raw_ttl_s)},
                    },
                }
            },
        ]
        for delta in deltas:
            names: dict[str, str] = {"#n": "n"}
            values: dict[str, Any] = {":n": {"N": str(delta.count)}}
            parts = ["#n :n"]
            for i, (metric, total) in enumerate(sorted(delta.sums.items())):
                names[f"#s{i}"], values[f":s{i}"] = f"s_{_safe(metric)}", _num(total)
                names[f"#c{i}"] = f"c_{_safe(metric)}"
                parts.append(f"#s{i} :s{i}, #c{i} :n")
            for i, (counter, wh) in enumerate(sorted(delta.energy_wh.items())):
                names[f"#e{i}"], values[f":e{i}"] = f"e_{_safe(counter)}", _num(wh)
                parts.append(f"#e{i} :e{i}")
            actions.append(
                {
                    "Update": {
                        "TableName": rollup_table,
                        "Key": {
                            "pk": {"S": f"{reading.device_id}#{delta.resolution}"},
                            "bucket": {"N": str(delta.bucket_start)},
                        },
                        "UpdateExpression": "ADD " + ", ".join(parts),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        advances = previous is None or reading.ts > previous.ts
        if advances:
            update: dict[str, Any] = {
                "TableName": LatestReadingModel.Meta.table_name,
                "Key": {"device_id": {"S": reading.device_id}},
                "UpdateExpression": "SET #ts = :ts, #seq = :seq, #m = :m, #c = :c, #r = :r",
                "ExpressionAttributeNames": {
                    "#ts": "ts",
                    "#seq": "seq",
                    "#m": "metrics",
                    "#c": "counters",
                    "#r": "received_at",
                },
                "ExpressionAttributeValues": {
                    ":ts": {"N": str(reading.ts)},
                    ":seq": {"N": str(reading.seq)},
                    ":m": {"S": metrics_json},
                    ":c": {"S": json.dumps(new_state.counters, separators=(",", ":"))},
                    ":r": {"N": str(received_at)},
                },
            }
            if previous is None:
                update["ConditionExpression"] = "attribute_not_exists(device_id)"
            else:
                update["ConditionExpression"] = "#ts = :prev"
                update["ExpressionAttributeValues"][":prev"] = {"N": str(previous.ts)}
            actions.append({"Update": update})
        try:
            self._ddb.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            codes = [r.get("Code") for r in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                return self._seq_outcome(reading)
            if advances and codes and codes[-1] == "ConditionalCheckFailed":
                return StoreOutcome.STALE_LATEST
            raise
        return StoreOutcome.STORED

    def _seq_outcome(self, reading: Reading) -> StoreOutcome:
        item = self._ddb.get_item(
            TableName=RawReadingModel.Meta.table_name,
            ConsistentRead=True,
            Key={"pk": {"S": f"{reading.device_id}#SEQ"}, "sk": {"S": f"{reading.seq:010d}"}},
        ).get("Item")
        if item and int(item["ts"]["N"]) == reading.ts:
            return StoreOutcome.DUPLICATE
        return StoreOutcome.SEQ_REUSED

    # ------------------------------------------------------------ reads
    def latest(self, device_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=LatestReadingModel.Meta.table_name,
            Key={"device_id": {"S": device_id}},
        ).get("Item")
        if not item:
            return None
        return {
            "ts": int(item["ts"]["N"]),
            "seq": int(item["seq"]["N"]),
            "metrics": json.loads(item["metrics"]["S"]),
            "receivedAt": int(item["received_at"]["N"]),
        }

    def raw(
        self,
        device_id: str,
        start: int,
        end: int,
        limit: int,
        after: str | None,
        *,
        deadline: Deadline = NEVER,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Raw readings in [start, end), oldest first, across day partitions, and where the next page starts.

        `after` is the opaque position ("<pk>|<sk>") just past which the page starts: the last reading of
        the previous page, or where a page cut short by the deadline stopped. The work is bounded: at most
        MAX_RAW_DAYS partitions (the caller bounds the range), no query once the page holds `limit`
        readings, and none after the `deadline` but the first, so every page moves forward.
        """
        days = range((start // DAY_MS) * DAY_MS, end, DAY_MS)
        if len(days) > MAX_RAW_DAYS:
            raise ValueError(f"a raw history covers at most {MAX_RAW_DAYS} day partitions, not {len(days)}")
        out: list[dict[str, Any]] = []
        resume_pk, resume_sk = after.split("|", 1) if after else ("", "")
        high = raw_sort_key(end - 1, 9_999_999_999)
        queried = False
        for index, day in enumerate(days):
            pk = day_key(device_id, day)
            if pk < resume_pk:
                continue
            # Everything up to `low` was returned already (`low` itself too, if it is a reading's key).
            low = resume_sk if pk == resume_pk else f"{start:013d}#"  # "#" sorts before any "<ts>#<seq>"
            kwargs: dict[str, Any] = {
                "TableName": RawReadingModel.Meta.table_name,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {":pk": {"S": pk}, ":low": {"S": low}, ":high": {"S": high}},
            }
            while len(out) < limit:
                if queried and deadline.passed():  # cut short: continue from the last key this page covered
                    last = kwargs.get("ExclusiveStartKey")
                    return _strip(out), f"{pk}|{last['sk']['S'] if last else low}"
                kwargs["Limit"] = limit - len(out) + 1
                result = self._ddb.query(**kwargs)
                queried = True
                for item in result.get("Items", []):
                    if item["sk"]["S"] == low:
                        continue
                    out.append(
                        {
                            "ts": int(item["ts"]["N"]),
                            "seq": int(item["seq"]["N"]),
                            "metrics": json.loads(item["metrics"]["S"]),
                            "_key": f"{pk}|{item['sk']['S']}",
                        }
                    )
                if "LastEvaluatedKey" not in result:
                    break
                kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
            if len(out) >= limit:
                more = len(out) > limit or index + 1 < len(days)
                next_after = out[limit - 1]["_key"] if more else None
                return _strip(out[:limit]), next_after
        return _strip(out), None

    def rollups(
        self,
        device_id: str,
        resolution: str,
        start: int,
        end: int,
        limit: int,
        after: int | None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        low = after + 1 if after is not None else start
        result = self._ddb.query(
            TableName=RollupModel.Meta.table_name,
            KeyConditionExpression="pk = :pk AND bucket BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": f"{device_id}#{resolution}"},
                ":low": {"N": str(low)},
                ":high": {"N": str(end - 1)},
            },
            Limit=limit,
        )
        items = []
        for item in result.get("Items", []):
            row: dict[str, Any] = {
                "bucket": int(item["bucket"]["N"]),
                "n": int(item.get("n", {"N": "0"})["N"]),
                "sums": {},
                "counts": {},
                "energy": {},
            }
            for name, value in item.items():
                if name.startswith("s_"):
                    row["sums"][name[2:]] = float(value["N"])
                elif name.startswith("c_"):
                    row["counts"][name[2:]] = int(value["N"])
                elif name.startswith("e_"):
                    row["energy"][name[2:]] = int(Decimal(value["N"]))
            items.append(row)
        next_after = items[-1]["bucket"] if "LastEvaluatedKey" in result and items else None
        return items, next_after
