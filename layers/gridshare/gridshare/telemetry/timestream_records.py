"""Accepted readings as Timestream multi-measure records (the optional Timestream sink, decision 0020).

Pure: no AWS. One record per reading: dimensions `thing` (the device id), `owner` and, when the device sits
on a site, `site`; measure name `reading`; one measure value per metric, DOUBLE for numbers (a measure
keeps one type per table, and calibrated values are fractional) and BOOLEAN for flags; the reading's own
timestamp in milliseconds. `Version` is the same for every write of a reading, so a redelivered event
rewrites the same record, which Timestream accepts as a no-op.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

MEASURE_NAME = "reading"
MAX_RECORDS_PER_WRITE = 100  # WriteRecords' limit
RECORD_VERSION = 1


class NotARecord(ValueError):
    """A reading that cannot be a Timestream record (the event did not keep the contract)."""


def _epoch_ms(ts: str) -> int:
    moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise NotARecord(f"timestamp without a timezone: {ts!r}")
    return int(moment.timestamp() * 1000)


def _measure(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, bool):
        return {"Name": name, "Value": "true" if value else "false", "Type": "BOOLEAN"}
    if isinstance(value, int | float) and math.isfinite(value):
        return {"Name": name, "Value": repr(float(value)), "Type": "DOUBLE"}
    raise NotARecord(f"metric {name!r} is not a number or a flag: {value!r}")


def record(reading: Mapping[str, Any]) -> dict[str, Any]:
    """One reading of a `ReadingsAccepted` event (docs/events.md) as a multi-measure record."""
    try:
        device_id = str(reading["deviceId"])
        owner_id = str(reading["ownerId"])
        metrics: Mapping[str, Any] = reading["metrics"]
        time_ms = _epoch_ms(str(reading["ts"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise NotARecord(f"not a reading: {exc}") from exc
    if not device_id or not owner_id or not metrics:
        raise NotARecord("a reading needs a device, an owner and at least one metric")
    dimensions = [{"Name": "thing", "Value": device_id}, {"Name": "owner", "Value": owner_id}]
    if reading.get("siteId"):
        dimensions.append({"Name": "site", "Value": str(reading["siteId"])})
    return {
        "Dimensions": dimensions,
        "MeasureName": MEASURE_NAME,
        "MeasureValueType": "MULTI",
        "MeasureValues": [_measure(name, metrics[name]) for name in sorted(metrics)],
        "Time": str(time_ms),
        "TimeUnit": "MILLISECONDS",
        "Version": RECORD_VERSION,
    }


def records(readings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [record(reading) for reading in readings]


def batches(items: Sequence[dict[str, Any]], size: int = MAX_RECORDS_PER_WRITE) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
