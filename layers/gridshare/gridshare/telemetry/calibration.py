"""Calibration at ingest (pure): `value * scale + offset` per metric, the device's desired configuration.

A calibrated device's message is calibrated *before* it is validated, so the physical ranges, the counter
monotonicity and the rollups all see calibrated values, the same ones the latest reading and the history
show. Counters stay integers (Wh): a calibrated counter is rounded half to even. The raw values of the
calibrated metrics are kept beside them (`uncalibrated`), so a wrong calibration can be undone later.

Consequence for counters: a calibration change that lowers a counter's calibrated value (a smaller scale or
offset) makes the next readings look like the counter went backwards; they are dead-lettered (with the
reason) until the counter passes its last stored value, as for a meter swap. Change counters' calibration
upwards, or not at all, once a device reports.

The hot path (`compile_calibration`, `decode_calibrated`): a calibrated device gets a plan, built once per
device read, whose typed decoder checks every metric but the calibrated ones as the schema says; those are
decoded as any number, calibrated, and then checked against the schema's range, so a message is decoded
once (msgspec) instead of being parsed, calibrated and validated again as a dict. The plan accepts only
what `calibrate_payload` followed by validation accepts, with the same values (a property test compares
them); anything it refuses takes that path, which names every reason.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

import msgspec

from gridshare.telemetry.readings import COUNTERS, MAX_PAYLOAD_BYTES, SCHEMA
from gridshare.telemetry.typed_schema import Typed, compile_typed, decode_typed

Calibration = Mapping[str, Mapping[str, float]]


def _calibrated(value: float, scale: float, offset: float, counter: bool) -> float:
    calibrated: float = value * scale + offset
    if counter:
        return round(calibrated)
    if isinstance(calibrated, float) and calibrated.is_integer() and isinstance(value, int):
        return int(calibrated)
    return calibrated


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
        calibrated = _calibrated(value, factors["scale"], factors["offset"], name in counters)
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


# --------------------------------------------------------------------------------------------------
# The hot path: one typed decode per message of a calibrated device
# --------------------------------------------------------------------------------------------------

_FLOAT_MAX = sys.float_info.max
_NOTHING: dict[str, Any] = {}  # no uncalibrated values: shared, never written
_METRIC_SPECS: Mapping[str, Mapping[str, Any]] = SCHEMA["properties"]["metrics"]["properties"]


class _Step(NamedTuple):
    """One calibrated metric: its factors, whether it is a counter (an integer), and the schema's range."""

    name: str
    scale: float
    offset: float
    counter: bool
    low: float
    high: float


class CalibrationPlan(msgspec.Struct, frozen=True):
    """A device's calibration, compiled: the decoder that leaves its calibrated metrics unchecked, and
    the steps that calibrate and then check them (in the calibration's order, as `calibrate_metrics`)."""

    typed: Typed
    steps: tuple[_Step, ...]


@lru_cache(maxsize=64)
def _typed_for(names: frozenset[str]) -> Typed | None:
    return compile_typed(SCHEMA, names)


def compile_calibration(calibration: Calibration) -> CalibrationPlan | None:
    """The plan of a device's calibration (no steps for an uncalibrated device); None when the plan could
    not decide like `calibrate_payload` + validation (factors that are not plain numbers, an integer
    metric that is not a counter, a schema the typed decoder does not cover): then every message of the
    device takes that path."""
    steps: list[_Step] = []
    for name, factors in calibration.items():
        spec = _METRIC_SPECS.get(name)
        if spec is None or spec.get("type") == "boolean":
            continue  # an unknown metric is refused by the decoder; a flag is never calibrated
        if spec.get("type") not in ("number", "integer") or (spec.get("type") == "integer") != (name in COUNTERS):
            return None
        try:
            scale, offset = factors["scale"], factors["offset"]
        except (KeyError, TypeError):
            return None
        if type(scale) not in (int, float) or type(offset) not in (int, float):
            return None
        low, high = spec.get("minimum", -_FLOAT_MAX), spec.get("maximum", _FLOAT_MAX)
        steps.append(_Step(name, scale, offset, name in COUNTERS, low, high))
    typed = _typed_for(frozenset(step.name for step in steps))
    return None if typed is None else CalibrationPlan(typed, tuple(steps))


def decode_calibrated(plan: CalibrationPlan, payload: bytes) -> tuple[int, int, dict[str, Any], dict[str, Any]] | None:
    """(ts, seq, calibrated metrics, uncalibrated values) of a message `calibrate_payload` + validation
    accept, with their values; None for anything else (that path then decides and names the reasons).

    The metrics are in the schema's order (the same JSON value as the device's order)."""
    if type(payload) is not bytes or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    decoded = decode_typed(plan.typed, payload)
    if decoded is None:
        return None
    ts, seq, metrics = decoded
    if not plan.steps:
        return ts, seq, metrics, _NOTHING
    raw: dict[str, Any] = {}
    for name, scale, offset, counter, low, high in plan.steps:
        value = metrics.get(name)
        if value is None:
            continue
        calibrated = value * scale + offset
        if not -_FLOAT_MAX <= calibrated <= _FLOAT_MAX:
            return None  # inf or nan: rounding a counter would raise; let the reference path decide
        if counter:
            calibrated = round(calibrated)
        elif type(calibrated) is float and type(value) is int and calibrated.is_integer():
            calibrated = int(calibrated)
        if calibrated != value:
            metrics[name] = calibrated
            raw[name] = value
        else:
            calibrated = value
        if type(calibrated) is float and counter:  # an integral float the schema takes as an integer
            if not calibrated.is_integer():
                return None
            metrics[name] = calibrated = int(calibrated)
        if not low <= calibrated <= high:
            return None
    return ts, seq, metrics, raw
