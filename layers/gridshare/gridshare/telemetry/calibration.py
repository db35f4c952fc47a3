"""Calibration at ingest (pure): `value * scale + offset` per metric, the device's desired configuration.

A calibrated device's message is calibrated *before* it is validated, so the physical ranges, the counter
monotonicity and the rollups all see calibrated values, the same ones the latest reading and the history
show. Counters stay integers (Wh): a calibrated counter is rounded half to even. The raw values of the
calibrated metrics are kept beside them (`uncalibrated`), so a wrong calibration can be undone later.

Consequence for counters: a calibration change that lowers a counter's calibrated value (a smaller scale or
offset) makes the next readings look like the counter went backwards; they are dead-lettered (with the
reason) until the counter passes its last stored value, as for a meter swap. Change counters' calibration
upwards, or not at all, once a device reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any

Calibration = Mapping[str, Mapping[str, float]]


def calibrate_metrics(
    metrics: Mapping[str, Any], calibration: Calibration, counters: Collection[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(calibrated metrics, the uncalibrated values of the metrics that changed).

    Values that are not finite numbers (a flag, a string, null) are left as sent: validation refuses
    them with their own reason."""
    out = dict(metrics)
    raw: dict[str, Any] = {}
    for name, factors in calibration.items():
        value = metrics.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            continue
        calibrated: float | int = value * factors["scale"] + factors["offset"]
        if name in counters:
            calibrated = round(calibrated)
        elif isinstance(calibrated, float) and calibrated.is_integer() and isinstance(value, int):
            calibrated = int(calibrated)
        if calibrated != value:
            out[name] = calibrated
            raw[name] = value
    return out, raw


def calibrate_payload(
    payload: bytes, calibration: Calibration, counters: Collection[str]
) -> tuple[bytes | dict[str, Any], dict[str, Any]]:
    """The message to validate and the uncalibrated values. A payload that is not a JSON object with a
    `metrics` object is returned as it came, for validation to refuse with its reason."""
    if not calibration:
        return payload, {}
    try:
        doc = json.loads(payload)
    except ValueError:
        return payload, {}
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        return payload, {}
    metrics, raw = calibrate_metrics(doc["metrics"], calibration, counters)
    if not raw:
        return payload, {}
    return {**doc, "metrics": metrics}, raw
