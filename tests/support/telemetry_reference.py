"""The telemetry hot path as it was before typed decoding (2026-12): the reference the new one must equal.

`gridshare.telemetry.readings` and `.store` were rewritten for speed (msgspec decoding, shared dicts,
cached request templates). These are the previous implementations, kept verbatim apart from names, so
property tests can compare outputs on random inputs (tests/unit/telemetry/test_telemetry_hot_path.py):

- `reference_validate`: the previous `TelemetryValidator.validate` (stdlib json, the dict pre-check,
  jsonschema for the rest); its helpers still live in `readings` as the rejection path;
- `reference_rollup_deltas`: the previous `rollup_deltas`, as tuples;
- `reference_transact_items`: the TransactItems the previous `TelemetryStore.store` sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from gridshare.telemetry import readings
from gridshare.telemetry.readings import (
    _NOTHING_BAD,
    COUNTERS,
    SPLIT_CAP_MS,
    CounterState,
    Reading,
    TelemetryValidator,
    ValidationResult,
)
from gridshare.telemetry.rollups import (
    _FINEST,
    _FINEST_MS,
    _KINDS,
    _RESOLUTION_SIZES,
    bucket_start,
)

ReferenceDelta = tuple[str, int, int, dict[str, float], dict[str, int]]
"""(resolution, bucket_start, count, sums, energy_wh): a RollupDelta's fields."""


def reference_validate(
    validator: TelemetryValidator,
    payload: bytes | str | Mapping[str, Any],
    *,
    device_id: str,
    now_ms: int,
    previous: CounterState | None,
) -> ValidationResult:
    doc, reasons = validator._parse(payload)
    if doc is None:
        return ValidationResult(None, tuple(reasons))
    fast = readings._FAST_CHECK
    if fast is not None and fast(doc):
        ts: int = doc["ts"]
        metrics: dict[str, Any] = doc["metrics"]
        if ts > now_ms + validator.max_future_ms or ts < now_ms - validator.backfill_ms:
            reasons.append(validator._clock_reason(ts, now_ms))
        if previous is not None and ts != previous.ts:
            reasons.extend(validator._counter_reasons(ts, metrics, previous, _NOTHING_BAD))
        if reasons:
            return ValidationResult(None, tuple(reasons))
        if isinstance(payload, Mapping):
            metrics = dict(metrics)
        return ValidationResult(Reading(device_id, ts, doc["seq"], metrics), ())
    return validator._validate_in_full(doc, device_id=device_id, now_ms=now_ms, previous=previous)


def _split_energy(delta: int, prev_ts: int, ts: int) -> dict[int, int]:
    first = bucket_start(prev_ts + 1, _FINEST)
    last = bucket_start(ts, _FINEST)
    if first == last:
        return {last: delta}
    total = ts - prev_ts
    parts: dict[int, int] = {}
    remainders: list[tuple[int, int]] = []
    allotted = 0
    for start in range(first, last + 1, _FINEST_MS):
        weight = min(start + _FINEST_MS - 1, ts) - max(start, prev_ts + 1) + 1
        share, remainder = divmod(delta * weight, total)
        parts[start] = share
        allotted += share
        remainders.append((remainder, start))
    remainders.sort(reverse=True)
    for _, start in remainders[: delta - allotted]:
        parts[start] += 1
    return parts


def reference_rollup_deltas(reading: Reading, previous: CounterState | None) -> list[ReferenceDelta]:
    ts = reading.ts
    sums: dict[str, float] = {}
    for name, value in reading.metrics.items():
        kind = _KINDS.get(name)
        if kind == "gauge":
            sums[name] = float(value)
        elif kind == "flag":
            sums[name] = 1.0 if value else 0.0

    fine: dict[int, dict[str, int]] = {}
    if previous is not None and ts > previous.ts:
        for name in COUNTERS:
            if name not in reading.metrics or name not in previous.counters:
                continue
            delta = int(reading.metrics[name]) - previous.counters[name]
            if delta < 0:
                raise ValueError(
                    f"{name} went backwards from {previous.counters[name]} to "
                    f"{reading.metrics[name]} Wh; validate the reading first"
                )
            if delta == 0:
                continue
            if ts - previous.ts > SPLIT_CAP_MS:
                parts = {ts - ts % _FINEST_MS: delta}
            else:
                parts = _split_energy(delta, previous.ts, ts)
            for start, wh in parts.items():
                if wh:
                    fine.setdefault(start, {})[name] = wh

    deltas: list[ReferenceDelta] = []
    for res, size in _RESOLUTION_SIZES:
        own = ts - ts % size
        buckets: dict[int, dict[str, int]] = {own: {}}
        for fine_start, fine_parts in fine.items():
            slot = buckets.setdefault(fine_start - fine_start % size, {})
            for metric, energy in fine_parts.items():
                slot[metric] = slot.get(metric, 0) + energy
        for start in sorted(buckets) if len(buckets) > 1 else buckets:
            if start == own:
                deltas.append((res, start, 1, dict(sums), buckets[start]))
            else:
                deltas.append((res, start, 0, {}, buckets[start]))
    return deltas


def _num(value: float | int | bool) -> dict[str, str]:
    if isinstance(value, bool):
        value = int(value)
    return {"N": str(Decimal(str(value)))}


def _safe(name: str) -> str:
    return name.replace("-", "_")


def reference_transact_items(
    reading: Reading,
    deltas: list[ReferenceDelta],
    previous: CounterState | None,
    new_state: CounterState,
    received_at: int,
    *,
    tables: tuple[str, str, str],
    raw_ttl_s: int,
    marker_ttl_s: int,
) -> list[dict[str, Any]]:
    raw_table, rollup_table, latest_table = tables
    metrics_json = json.dumps(reading.metrics, separators=(",", ":"))
    marker_expiry = str(received_at // 1000 + marker_ttl_s)
    day = f"{reading.device_id}#{datetime.fromtimestamp(reading.ts / 1000, tz=UTC):%Y%m%d}"
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
                    "pk": {"S": day},
                    "sk": {"S": f"{reading.ts:013d}#{reading.seq:010d}"},
                    "ts": {"N": str(reading.ts)},
                    "seq": {"N": str(reading.seq)},
                    "metrics": {"S": metrics_json},
                    "expires_at": {"N": str(reading.ts // 1000 + raw_ttl_s)},
                },
            }
        },
    ]
    for resolution, start, count, delta_sums, energy_wh in deltas:
        names: dict[str, str] = {"#n": "n"}
        values: dict[str, Any] = {":n": {"N": str(count)}}
        parts = ["#n :n"]
        for i, (metric, total) in enumerate(sorted(delta_sums.items())):
            names[f"#s{i}"], values[f":s{i}"] = f"s_{_safe(metric)}", _num(total)
            names[f"#c{i}"] = f"c_{_safe(metric)}"
            parts.append(f"#s{i} :s{i}, #c{i} :n")
        for i, (counter, wh) in enumerate(sorted(energy_wh.items())):
            names[f"#e{i}"], values[f":e{i}"] = f"e_{_safe(counter)}", _num(wh)
            parts.append(f"#e{i} :e{i}")
        actions.append(
            {
                "Update": {
                    "TableName": rollup_table,
                    "Key": {"pk": {"S": f"{reading.device_id}#{resolution}"}, "bucket": {"N": str(start)}},
                    "UpdateExpression": "ADD " + ", ".join(parts),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        )
    if previous is None or reading.ts > previous.ts:
        update: dict[str, Any] = {
            "TableName": latest_table,
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
    return actions


def reference_raw_put(
    reading: Reading, received_at: int, uncalibrated: Mapping[str, Any] | None, *, table: str, raw_ttl_s: int
) -> dict[str, Any]:
    """The PutItem request decision 0016's `TelemetryStore._store_raw` sent through `RawStore.put` (2026-12-03),
    before the raw item was built in one piece (`TelemetryStore.raw_item`)."""
    item: dict[str, Any] = {
        "pk": {"S": f"{reading.device_id}#{datetime.fromtimestamp(reading.ts // 86_400_000 * 86_400, tz=UTC):%Y%m%d}"},
        "sk": {"S": f"{reading.ts:013d}#{reading.seq:010d}"},
        "ts": {"N": str(reading.ts)},
        "seq": {"N": str(reading.seq)},
        "metrics": {"S": msgspec.json.encode(reading.metrics).decode()},
        "expires_at": {"N": str(reading.ts // 1000 + raw_ttl_s)},
    }
    if uncalibrated:
        item["uncalibrated"] = {"S": msgspec.json.encode(dict(uncalibrated)).decode()}
    return {
        "TableName": table,
        "Item": {**item, "received_at": {"N": str(received_at)}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }
