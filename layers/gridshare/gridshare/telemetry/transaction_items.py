"""The TransactWriteItems request of one reading on decision 0003's path (`GS_TELEMETRY_WRITE_PATH=
transaction`), built without a call: the sequence marker, the raw reading, one ADD per rollup bucket, the
latest item. `gridshare.telemetry.store.TelemetryStore.store` sends it and reads the cancellation reasons in
this order. Decision 0016's raw path, the default, never imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gridshare.telemetry.readings import RESOLUTIONS, CounterState, Reading
from gridshare.telemetry.rollups import RollupDelta
from gridshare.telemetry.store import _dumps, _num, _safe, day_key

_LATEST_NAMES = {"#ts": "ts", "#seq": "seq", "#m": "metrics", "#c": "counters", "#r": "received_at"}


@dataclass(frozen=True)
class _DeviceKeys:
    """The key attributes of a device's items, the same for each of its readings (shared, read-only)."""

    marker_pk: dict[str, str]
    latest_key: dict[str, dict[str, str]]
    rollup_pk: dict[str, dict[str, str]]


@lru_cache(maxsize=4096)
def _device_keys(device_id: str) -> _DeviceKeys:
    return _DeviceKeys(
        marker_pk={"S": f"{device_id}#SEQ"},
        latest_key={"device_id": {"S": device_id}},
        rollup_pk={resolution: {"S": f"{device_id}#{resolution}"} for resolution in RESOLUTIONS},
    )


@dataclass(frozen=True)
class _RollupTemplate:
    """What a rollup ADD's request shares with every other of the same metrics: names and expression."""

    names: dict[str, str]
    expression: str
    sum_values: tuple[tuple[str, str], ...]  # (placeholder, metric)
    energy_values: tuple[tuple[str, str], ...]  # (placeholder, counter)


@lru_cache(maxsize=256)
def _rollup_template(sum_metrics: tuple[str, ...], energy_counters: tuple[str, ...]) -> _RollupTemplate:
    """The ADD of one rollup delta: `n` by the count, s_<metric> by the sum and c_<metric> by the count
    for each gauge/flag, e_<counter> by the energy; placeholders numbered in sorted metric order."""
    names: dict[str, str] = {"#n": "n"}
    parts = ["#n :n"]
    sums = tuple(sorted(sum_metrics))
    for i, metric in enumerate(sums):
        names[f"#s{i}"] = f"s_{_safe(metric)}"
        names[f"#c{i}"] = f"c_{_safe(metric)}"
        parts.append(f"#s{i} :s{i}, #c{i} :n")
    counters = tuple(sorted(energy_counters))
    for i, counter in enumerate(counters):
        names[f"#e{i}"] = f"e_{_safe(counter)}"
        parts.append(f"#e{i} :e{i}")
    return _RollupTemplate(
        names=names,
        expression="ADD " + ", ".join(parts),
        sum_values=tuple((f":s{i}", metric) for i, metric in enumerate(sums)),
        energy_values=tuple((f":e{i}", counter) for i, counter in enumerate(counters)),
    )


def transact_items(
    tables: tuple[str, str, str],
    reading: Reading,
    deltas: list[RollupDelta],
    previous: CounterState | None,
    new_state: CounterState,
    received_at: int,
    *,
    marker_ttl_s: int,
    raw_ttl_s: int,
    uncalibrated: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The TransactItems of one reading into the (raw, rollup, latest) `tables`, in the order `store` relies
    on. This runs once per reading, so the per-metric-set parts (attribute names, the update expression) are
    cached and numbers are formatted once per reading."""
    raw_table, rollup_table, latest_table = tables
    device_id = reading.device_id
    keys = _device_keys(device_id)
    ts_n = {"N": str(reading.ts)}  # leaves shared between the actions of this request: read-only
    seq_n = {"N": str(reading.seq)}
    seq_key = f"{reading.seq:010d}"
    metrics_s = {"S": _dumps(reading.metrics)}
    actions: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": raw_table,
                "Item": {
                    "pk": keys.marker_pk,
                    "sk": {"S": seq_key},
                    "ts": ts_n,
                    "expires_at": {"N": str(received_at // 1000 + marker_ttl_s)},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": raw_table,
                "Item": {
                    "pk": {"S": day_key(device_id, reading.ts)},
                    "sk": {"S": f"{reading.ts:013d}#{seq_key}"},
                    "ts": ts_n,
                    "seq": seq_n,
                    "metrics": metrics_s,
                    "expires_at": {"N": str(reading.ts // 1000 + raw_ttl_s)},
                },
            }
        },
    ]
    if uncalibrated:  # the raw values of calibrated metrics (gridshare.telemetry.calibration)
        actions[1]["Put"]["Item"]["uncalibrated"] = {"S": _dumps(dict(uncalibrated))}
    # The buckets of one reading usually share one `sums` and one `energy` dict (rollup_deltas): their
    # values are then formatted once and the same ExpressionAttributeValues serve every resolution.
    shared: dict[tuple[int, int, int], dict[str, Any]] = {}
    for delta in deltas:
        sums = delta.sums
        energy = delta.energy_wh
        template = _rollup_template(tuple(sums), tuple(energy))
        key = (id(sums), id(energy), delta.count)
        values = shared.get(key)
        if values is None:
            values = {":n": {"N": str(delta.count)}}
            for placeholder, metric in template.sum_values:
                values[placeholder] = _num(sums[metric])
            for placeholder, counter in template.energy_values:
                values[placeholder] = _num(energy[counter])
            shared[key] = values
        actions.append(
            {
                "Update": {
                    "TableName": rollup_table,
                    "Key": {"pk": keys.rollup_pk[delta.resolution], "bucket": {"N": str(delta.bucket_start)}},
                    "UpdateExpression": template.expression,
                    "ExpressionAttributeNames": template.names,  # shared: botocore only reads it
                    "ExpressionAttributeValues": values,  # shared too, read-only
                }
            }
        )
    if previous is None or reading.ts > previous.ts:
        update: dict[str, Any] = {
            "TableName": latest_table,
            "Key": keys.latest_key,
            "UpdateExpression": "SET #ts = :ts, #seq = :seq, #m = :m, #c = :c, #r = :r",
            "ExpressionAttributeNames": _LATEST_NAMES,
            "ExpressionAttributeValues": {
                ":ts": ts_n,
                ":seq": seq_n,
                ":m": metrics_s,
                ":c": {"S": _dumps(new_state.counters)},
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
