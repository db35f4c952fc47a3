"""DynamoDB storage of readings: one TransactWriteItems per reading.

The transaction holds a conditional put of the sequence marker (so a redelivered message stores once),
the raw reading, an atomic ADD into each rollup bucket, and, when the reading is the newest, an update of
the latest item conditioned on the previous latest timestamp. That condition makes concurrent readings of
one device (SQS does not order them) retry instead of counting the same counter delta twice. That is
decision 0003's path (`GS_TELEMETRY_WRITE_PATH=transaction`; its request: `telemetry.transaction_items`);
by default the store puts the raw reading alone (decision 0016, `telemetry.raw_store`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import msgspec
from botocore.exceptions import ClientError

from gridshare.kernel.aws import client
from gridshare.kernel.clock import now_ms
from gridshare.kernel.deadline import NEVER, Deadline
from gridshare.telemetry.models import LatestReadingModel, RawReadingModel, RollupModel
from gridshare.telemetry.readings import (
    COUNTERS,
    CounterState,
    Reading,
)
from gridshare.telemetry.rollup_items import is_late
from gridshare.telemetry.rollups import (
    RollupDelta,
)

if TYPE_CHECKING:
    from gridshare.telemetry.raw_archive import RawArchive

DAY_MS = 86_400_000
_NEW = "attribute_not_exists(pk)"  # the raw item's condition: a redelivery of a stored reading fails it
_RAW_PKS_MAX = 8192  # raw partition keys kept per store: one per device, its current day
MAX_RAW_DAYS = 32  # day partitions of one raw history page: 31 days not starting at midnight touch 32


class StoreOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # same seq and ts already stored: a redelivery
    SEQ_REUSED = "seq_reused"  # same seq with another ts: the device reused a sequence number
    STALE_LATEST = "stale_latest"  # another reading advanced the latest first: recompute and retry


_STORED, _DUPLICATE = StoreOutcome.STORED, StoreOutcome.DUPLICATE  # globals: see telemetry.service


def day_key(device_id: str, ts: int) -> str:
    return f"{device_id}#{_day_text(ts // DAY_MS)}"


@lru_cache(maxsize=64)
def _day_text(day: int) -> str:
    """YYYYMMDD of a UTC day (days since the epoch): a reading's partition, cached (few distinct days)."""
    return f"{datetime.fromtimestamp(day * 86_400, tz=UTC):%Y%m%d}"


def raw_sort_key(ts: int, seq: int) -> str:
    return f"{ts:013d}#{seq:010d}"


def _strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row.pop("_key")
    return rows


def _num(value: float | int | bool) -> dict[str, str]:
    """A DynamoDB number: the value's shortest decimal text, without an exponent (Decimal's notation)."""
    kind = type(value)
    if kind is int:
        return {"N": str(value)}
    if kind is bool:
        return {"N": "1" if value else "0"}
    text = repr(value)
    if "e" in text or "n" in text:  # 1e-05, 1.5e+16, inf, nan: let Decimal say it (or refuse it)
        text = str(Decimal(text))
    return {"N": text}


def _safe(name: str) -> str:
    return name.replace("-", "_")


def _dumps(value: dict[str, Any]) -> str:
    """Compact JSON text of a reading's metrics or counters (msgspec: ~0.5 µs where json.dumps takes ~6)."""
    return _encode(value).decode()


_encode = msgspec.json.Encoder().encode


@dataclass
class TelemetryStore:
    raw_ttl_s: int = 30 * 86400
    marker_ttl_s: int = 9 * 86400
    ddb: Any = None  # a DynamoDB client; None = the process's shared one (tests and benches pass theirs)
    # (device id, UTC day) -> the raw partition key attribute, shared by that day's requests (read-only)
    # device -> (day, its pk attribute, its expires_at attribute): shared between that day's items, read-only
    _raw_pks: dict[str, tuple[int, dict[str, str], dict[str, str]]] = field(default_factory=dict, repr=False)
    # device -> a time at or after its `first` marker (raw_store.note_first; -1: it has none), so that a
    # reading after it writes nothing. Markers only move back, so a value read earlier stays a safe skip.
    _firsts: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def _ddb(self) -> Any:
        return self.ddb if self.ddb is not None else client("dynamodb")

    @cached_property
    def _write_tables(self) -> tuple[str, str, str]:
        """(raw, rollup, latest) table names for the write path, read from the environment once per store:
        ~1.5 µs each per reading otherwise. A store lives as long as its service, which is rebuilt
        (reset_services) when the environment changes."""
        return RawReadingModel.Meta.table_name, RollupModel.Meta.table_name, LatestReadingModel.Meta.table_name

    @cached_property
    def _raw(self) -> Any:
        """The raw-only path of decision 0016 unless GS_TELEMETRY_WRITE_PATH=transaction (then None: decision 0003)."""
        from gridshare.telemetry import raw_store
        from gridshare.telemetry.rollup_store import RollupItemStore

        if not raw_store.enabled():
            return None
        items = RollupItemStore(self._ddb, RollupModel.Meta.table_name)
        return raw_store.RawStore(self._ddb, RawReadingModel.Meta.table_name, items)

    def counter_state(self, device_id: str) -> CounterState | None:
        if self._raw is not None:
            return self._raw.counter_state(device_id, now_ms(), COUNTERS)  # type: ignore[no-any-return]
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
        *,
        uncalibrated: Mapping[str, Any] | None = None,
    ) -> StoreOutcome:
        if self._raw is not None:
            return self._store_raw(reading, previous, received_at, uncalibrated)
        if previous is None or reading.ts <= previous.ts:
            self._note_first(
                self._ddb, RawReadingModel.Meta.table_name, reading.device_id, reading.ts, previous is None
            )
        actions = self.transact_items(reading, deltas, previous, new_state, received_at, uncalibrated=uncalibrated)
        advances = previous is None or reading.ts > previous.ts
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

    def _store_raw(
        self, reading: Reading, previous: CounterState | None, received_at: int, uncalibrated: Mapping[str, Any] | None
    ) -> StoreOutcome:
        return self.store_raw(
            reading, previous.ts if previous is not None else None, received_at, uncalibrated, now_ms()
        )

    @property
    def writes_rollups(self) -> bool:
        """Whether `store` writes rollups from the deltas it is given (decision 0003's transaction path);
        on decision 0016's path (the default) it ignores them, so ingest need not compute them."""
        return self._raw is None

    def store_raw(
        self,
        reading: Reading,
        previous_ts: int | None,
        received_at: int,
        uncalibrated: Mapping[str, Any] | None,
        now: int,
    ) -> StoreOutcome:
        """Decision 0016: the raw item alone, conditional on its key (a redelivery is a duplicate); a late
        reading (in an hour the clock closed at `now`, or not after the device's newest, `previous_ts`)
        adds one dirty marker, so that the rollup job re-rolls the hours it changes."""
        raw = self._raw
        if previous_ts is None or reading.ts <= previous_ts:  # it may be the device's oldest reading
            self._note_first(raw.ddb, raw.table, reading.device_id, reading.ts, previous_ts is None)
        try:
            raw.ddb.put_item(
                TableName=raw.table, Item=self.raw_item(reading, received_at, uncalibrated), ConditionExpression=_NEW
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return _DUPLICATE
            raise
        if is_late(reading.ts, now, previous_ts):
            raw.items.mark_dirty(reading.device_id, reading.ts)
        return _STORED

    def _note_first(self, ddb: Any, table: str, device_id: str, ts: int, create: bool) -> None:
        """Keep the device's `first` marker at or before a reading about to be stored (before its put, so
        a reader that sees the reading sees the marker): `create` for a device with no counter state (no
        reading in the look-back), else only lower an existing marker. Costs nothing for a reading at or
        after the marker this store knows of; at most one GetItem per device and store to learn it."""
        from gridshare.telemetry import raw_store

        known = self._firsts.get(device_id)
        if known is not None and ts >= known and (known >= 0 or not create):
            return
        if len(self._firsts) >= _RAW_PKS_MAX:
            self._firsts.clear()
        if known is None and not create:
            marker = raw_store.RawStore(ddb, table).first(device_id)
            self._firsts[device_id] = known = -1 if marker is None else marker
            if ts >= known:  # at or after the marker, or a device without one (stored before markers)
                return
        raw_store.note_first(ddb, table, device_id, ts, create=create)
        self._firsts[device_id] = ts  # written, or the marker was already at or before ts

    def raw_item(self, reading: Reading, received_at: int, uncalibrated: Mapping[str, Any] | None) -> dict[str, Any]:
        """The raw item `store_raw` puts (pure: no call): the reading under its day partition and
        `<ts>#<seq>`, its TTL (the end of the reading's UTC day plus the retention: a day partition expires
        as one), the uncalibrated values of calibrated metrics, the arrival time. The partition key and TTL
        attributes are built once per device and day (shared between items: read-only)."""
        ts = reading.ts
        ts_text, seq_text = str(ts), str(reading.seq)
        device_id, day = reading.device_id, ts // DAY_MS
        cached = self._raw_pks.get(device_id)
        if cached is not None and cached[0] == day:
            _, pk, expires_at = cached
        else:
            if len(self._raw_pks) >= _RAW_PKS_MAX:
                self._raw_pks.clear()
            pk = {"S": day_key(device_id, ts)}
            # A day partition expires as one: at the end of its UTC day plus the retention (decision 0024).
            expires_at = {"N": str((day + 1) * 86_400 + self.raw_ttl_s)}
            self._raw_pks[device_id] = (day, pk, expires_at)
        item: dict[str, Any] = {  # one literal: adding keys one by one would resize the dict
            "pk": pk,
            "sk": {"S": ts_text.zfill(13) + "#" + seq_text.zfill(10)},  # raw_sort_key, without format()
            "ts": {"N": ts_text},
            "seq": {"N": seq_text},
            "metrics": {"S": _encode(reading.metrics).decode()},
            "expires_at": expires_at,
            "received_at": {"N": str(received_at)},
        }
        if uncalibrated:
            values = uncalibrated if type(uncalibrated) is dict else dict(uncalibrated)
            item["uncalibrated"] = {"S": _encode(values).decode()}
        return item

    def transact_items(
        self,
        reading: Reading,
        deltas: list[RollupDelta],
        previous: CounterState | None,
        new_state: CounterState,
        received_at: int,
        *,
        uncalibrated: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The TransactItems of one reading (pure: no call), in the order `store` relies on.

        The sequence marker first (its cancellation reason says duplicate or reused seq), the raw
        reading, one ADD per rollup bucket, and the latest item last (its condition says stale).
        This runs once per reading, so the per-metric-set parts (attribute names, the update
        expression) are cached and numbers are formatted once per reading.
        """
        from gridshare.telemetry.transaction_items import transact_items  # decision 0003's path only

        return transact_items(
            self._write_tables,
            reading,
            deltas,
            previous,
            new_state,
            received_at,
            marker_ttl_s=self.marker_ttl_s,
            raw_ttl_s=self.raw_ttl_s,
            uncalibrated=uncalibrated,
        )

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
        if self._raw is not None:
            return self._raw.latest(device_id, now_ms())  # type: ignore[no-any-return]
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

    def latest_batch(self, device_ids: list[str], *, deadline: Deadline = NEVER) -> dict[str, dict[str, Any]]:
        """device id -> its latest reading (as `latest`), for the ids that have one; BatchGetItem in chunks of
        100 (DynamoDB's bound), unprocessed keys retried while the deadline allows (then a TimeoutError)."""
        out: dict[str, dict[str, Any]] = {}
        if self._raw is not None:  # decision 0016: the newest raw item, one query per device
            for device_id in dict.fromkeys(device_ids):
                if deadline.passed():
                    raise TimeoutError("the latest readings took longer than the deadline")
                latest = self._raw.latest(device_id, now_ms())
                if latest is not None:
                    out[device_id] = latest
            return out
        table = LatestReadingModel.Meta.table_name
        unique = list(dict.fromkeys(device_ids))
        for first in range(0, len(unique), 100):
            keys: list[dict[str, Any]] = [{"device_id": {"S": d}} for d in unique[first : first + 100]]
            while keys:
                result = self._ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
                for item in result.get("Responses", {}).get(table, []):
                    out[item["device_id"]["S"]] = {
                        "ts": int(item["ts"]["N"]),
                        "seq": int(item["seq"]["N"]),
                        "metrics": json.loads(item["metrics"]["S"]),
                        "receivedAt": int(item["received_at"]["N"]),
                    }
                keys = result.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                if keys and deadline.passed():
                    raise TimeoutError("the latest readings took longer than the deadline")
        return out

    def raw(
        self,
        device_id: str,
        start: int,
        end: int,
        limit: int,
        after: str | None,
        *,
        deadline: Deadline = NEVER,
        archive: RawArchive | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Raw readings in [start, end), oldest first, across day partitions, and where the next page starts.

        `after` is the opaque position ("<pk>|<sk>") just past which the page starts: the last reading of
        the previous page, or where a page cut short by the deadline stopped. The work is bounded: at most
        MAX_RAW_DAYS partitions (the caller bounds the range), no query once the page holds `limit`
        readings, and none after the `deadline` but the first, so every page moves forward.

        With an `archive` (decision 0024, gridshare.telemetry.raw_archive), a day past the retention that
        was archived is read from the archive, and so is an archived day whose partition has nothing in the
        range: same rows, same positions, one GetObject per day instead of its queries.
        """
        days = range((start // DAY_MS) * DAY_MS, end, DAY_MS)
        if len(days) > MAX_RAW_DAYS:
            raise ValueError(f"a raw history covers at most {MAX_RAW_DAYS} day partitions, not {len(days)}")
        out: list[dict[str, Any]] = []
        resume_pk, resume_sk = after.split("|", 1) if after else ("", "")
        high = raw_sort_key(end - 1, 9_999_999_999)
        queried = False
        archived = None
        if archive is not None:
            ahead = [day for day in days if day_key(device_id, day) >= resume_pk]
            archived = archive.days(device_id, ahead, now_ms(), deadline=deadline)
        for index, day in enumerate(days):
            pk = day_key(device_id, day)
            if pk < resume_pk:
                continue
            # Everything up to `low` was returned already (`low` itself too, if it is a reading's key).
            low = resume_sk if pk == resume_pk else f"{start:013d}#"  # "#" sorts before any "<ts>#<seq>"
            from_archive = archived is not None and archived.replaces(day)
            if archived is not None and from_archive:
                if queried and deadline.passed():
                    return _strip(out), f"{pk}|{low}"
                out.extend(archived.rows(day, low, high))
                queried = True
            found, unread = len(out), False
            kwargs: dict[str, Any] = {
                "TableName": RawReadingModel.Meta.table_name,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {":pk": {"S": pk}, ":low": {"S": low}, ":high": {"S": high}},
            }
            while not from_archive and len(out) < limit:
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
                            **(
                                {"uncalibrated": json.loads(item["uncalibrated"]["S"])}
                                if "uncalibrated" in item
                                else {}
                            ),
                            "_key": f"{pk}|{item['sk']['S']}",
                        }
                    )
                # More in the partition: the page's extra item may be `low` itself, skipped above.
                unread = "LastEvaluatedKey" in result
                if not unread:
                    break
                kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
            if len(out) == found and not from_archive and archived is not None and archived.holds(day):
                # Nothing left in the partition, though the day was archived: its readings are gone early.
                # Read with the query, deadline or not, so that this page moves past the day.
                out.extend(archived.rows(day, low, high))
            if len(out) >= limit:
                more = len(out) > limit or unread or index + 1 < len(days)
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
        if self._raw is not None:
            return self._raw.rollups(device_id, resolution, start, end, limit, after)  # type: ignore[no-any-return]
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
