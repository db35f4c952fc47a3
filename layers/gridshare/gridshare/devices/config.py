"""Device configuration, as carried by the classic device shadow's `desired` state (pure, no AWS).

A configuration is a JSON object of camelCase fields, the same on the API (PUT /v1/devices/{id}/config)
and in the shadow the device reads:

- `reportIntervalS`: seconds between readings (MIN_REPORT_INTERVAL_S..MAX_REPORT_INTERVAL_S);
- `calibration`: per metric of the device's type, `{"offset", "scale"}`; the backend applies
  `value * scale + offset` at ingest (gridshare.telemetry.calibration); scale is never 0;
- type-specific fields (TYPE_FIELDS), e.g. a gas sensor's `tankCapacityKg` and `lowLevelPct`.

Invariants: `validate_config` accepts only what the device's type knows (every refusal names its field,
dotted: `calibration.voltage_v.scale`), and `desired_update` turns "replace the desired state with this"
into the shadow update that does it (IoT merges updates, so a field that is no longer wanted is sent as
null); applying the same configuration twice changes nothing, which keeps PUT idempotent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gridshare.kernel import errors

MIN_REPORT_INTERVAL_S, MAX_REPORT_INTERVAL_S = 5, 86_400
MAX_ABS_OFFSET = 1e9
MAX_ABS_SCALE = 1e3

#: The metrics each device type reports (names of the telemetry schema, iot_rules/schemas); only
#: numeric ones can be calibrated (`leak` is a flag). tests/unit/devices check them against the schema.
TYPE_METRICS: dict[str, tuple[str, ...]] = {
    "meter": ("power_w", "voltage_v", "current_a", "frequency_hz", "energy_import_wh", "energy_export_wh"),
    "inverter": (
        "pv_power_w",
        "power_w",
        "voltage_v",
        "current_a",
        "frequency_hz",
        "energy_import_wh",
        "energy_export_wh",
        "temperature_c",
    ),
    "battery": (
        "soc_pct",
        "power_w",
        "voltage_v",
        "current_a",
        "energy_import_wh",
        "energy_export_wh",
        "temperature_c",
    ),
    "gas_sensor": ("gas_level_pct", "temperature_c"),
}

#: Fields only some types accept: name -> (types, minimum, maximum).
TYPE_FIELDS: dict[str, tuple[frozenset[str], float, float]] = {
    "tankCapacityKg": (frozenset({"gas_sensor"}), 0.1, 10_000.0),
    "lowLevelPct": (frozenset({"gas_sensor"}), 0.0, 100.0),
}
COMMON_FIELDS = ("reportIntervalS", "calibration")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_config(device_type: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration, normalised (calibration entries complete: offset 0 and scale 1 by default), or
    InvalidInput naming every wrong field."""
    problems: list[errors.FieldError] = []
    out: dict[str, Any] = {}
    for name, value in config.items():
        if value is None:
            continue  # absent: not configured
        if name == "reportIntervalS":
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(errors.FieldError(name, "an integer number of seconds"))
            elif not MIN_REPORT_INTERVAL_S <= value <= MAX_REPORT_INTERVAL_S:
                problems.append(
                    errors.FieldError(name, f"between {MIN_REPORT_INTERVAL_S} and {MAX_REPORT_INTERVAL_S} seconds")
                )
            else:
                out[name] = value
        elif name == "calibration":
            calibration, found = _calibration(device_type, value)
            problems += found
            out[name] = calibration
        elif name in TYPE_FIELDS:
            types, low, high = TYPE_FIELDS[name]
            if device_type not in types:
                problems.append(errors.FieldError(name, f"only for {', '.join(sorted(types))}, not a {device_type}"))
            elif not _number(value) or not low <= value <= high:
                problems.append(errors.FieldError(name, f"a number from {low:g} to {high:g}"))
            else:
                out[name] = value
        else:
            problems.append(errors.FieldError(name, "not a configuration field"))
    if problems:
        raise errors.InvalidInput("The configuration is not valid for this device.", errors=problems)
    return out


def _calibration(device_type: str, value: Any) -> tuple[dict[str, dict[str, float]], list[errors.FieldError]]:
    problems: list[errors.FieldError] = []
    if not isinstance(value, Mapping):
        return {}, [errors.FieldError("calibration", "an object: metric -> {offset, scale}")]
    metrics = TYPE_METRICS.get(device_type, ())
    out: dict[str, dict[str, float]] = {}
    for metric, entry in value.items():
        field = f"calibration.{metric}"
        if metric not in metrics:
            problems.append(errors.FieldError(field, f"not a metric of a {device_type}: one of {', '.join(metrics)}"))
            continue
        if not isinstance(entry, Mapping):
            problems.append(errors.FieldError(field, "an object {offset, scale}"))
            continue
        unknown = sorted(set(entry) - {"offset", "scale"})
        for name in unknown:
            problems.append(errors.FieldError(f"{field}.{name}", "not a calibration field (offset, scale)"))
        offset = entry.get("offset", 0)
        scale = entry.get("scale", 1)
        if not _number(offset) or abs(offset) > MAX_ABS_OFFSET:
            problems.append(errors.FieldError(f"{field}.offset", f"a number within ±{MAX_ABS_OFFSET:g}"))
        if not _number(scale) or scale == 0 or abs(scale) > MAX_ABS_SCALE:
            problems.append(errors.FieldError(f"{field}.scale", f"a non-zero number within ±{MAX_ABS_SCALE:g}"))
        if not unknown and _number(offset) and _number(scale):
            out[metric] = {"offset": offset, "scale": scale}
    return out, problems


def calibration_of(config: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The calibration of a validated configuration, without identity entries (offset 0, scale 1)."""
    found = config.get("calibration") or {}
    return {m: dict(c) for m, c in found.items() if (c["offset"], c["scale"]) != (0, 1)}


def desired_update(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The shadow `desired` document that turns `current` into `wanted` (IoT merges: removals are null).
    Only what changes: the same configuration twice gives an empty update (no new shadow version)."""
    current = current or {}
    update: dict[str, Any] = {name: None for name in current if name not in wanted}
    for name, value in wanted.items():
        before = current.get(name)
        if before == value:
            continue
        if name == "calibration" and isinstance(before, Mapping):
            merged: dict[str, Any] = {metric: None for metric in before if metric not in value}
            merged.update({metric: factors for metric, factors in value.items() if before.get(metric) != factors})
            update[name] = merged
        else:
            update[name] = value
    return update


def delta_of(desired: Mapping[str, Any], reported: Mapping[str, Any]) -> dict[str, Any]:
    """What `desired` asks that `reported` does not show (IoT's delta: nested objects compared by field)."""
    delta: dict[str, Any] = {}
    for name, value in desired.items():
        seen = reported.get(name)
        if isinstance(value, Mapping) and isinstance(seen, Mapping):
            inner = delta_of(value, seen)
            if inner:
                delta[name] = inner
        elif value != seen:
            delta[name] = value
    return delta
