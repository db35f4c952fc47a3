"""Pure validation of alert rules per kind, and the default rules every device gets.

A rule names one device (`deviceId`) or one site (`siteId`: it applies to every device on the site). What a
kind needs (docs/alerts.md):

| kind | metric | operator | threshold | device types |
|---|---|---|---|---|
| threshold | one the device type reports (required) | required | required | any |
| leak | none (the `leak` flag) | none | none | gas_sensor |
| offline | none | none | none (and forS 0: the device's offlineAfterS is the hold) | any |
| low_level | `gas_level_pct` (implied) | `<` or `<=` (default `<`) | required, 0..100 | gas_sensor |
| generation_drop, consumption_spike | export / import energy (implied) | none | k (default 3) | one device |

The baseline kinds compare a closed 15-minute interval's `energy_export_wh` (drop) or `energy_import_wh`
(spike) with the same quarter-hour on the previous 7 days (gridshare.alerts.baseline); `threshold` is k,
0.5 to 10; forS is 0.

Every problem is a FieldError naming the request's field (camelCase), so the API answers one 422 with all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from gridshare.alerts.baseline import BASELINE_METRIC, DEFAULT_K
from gridshare.alerts.evaluation import CHANNELS, KINDS, OPERATORS, SEVERITIES
from gridshare.kernel.errors import FieldError

MAX_FOR_S: Final = 86_400
LOW_LEVEL_METRIC: Final = "gas_level_pct"
GAS_SENSOR: Final = "gas_sensor"
BASELINE_KINDS: Final = frozenset(BASELINE_METRIC)
DEFAULT_SEVERITY: Final = {"leak": "critical", "offline": "warning"}
DEFAULT_CHANNELS: Final = ("push", "email", "sms", "websocket")


def default_rule_id(kind: str, device_id: str) -> str:
    """The deterministic id of a device's default rule: materialised idempotently by a conditional put."""
    return f"{kind}-{device_id}"


def default_kinds(device_type: str) -> tuple[str, ...]:
    """Every device gets a warning `offline` rule; a gas sensor also a critical `leak` rule."""
    return ("leak", "offline") if device_type == GAS_SENSOR else ("offline",)


def default_rule(kind: str, device_id: str, device_type: str) -> dict[str, Any]:
    """The fields of a device's default rule (snake_case, as stored)."""
    names = {"leak": "Gas leak", "offline": "Device offline"}
    return {
        "id": default_rule_id(kind, device_id),
        "name": names[kind],
        "device_id": device_id,
        "site_id": None,
        "kind": kind,
        "metric": None,
        "operator": None,
        "threshold": None,
        "for_s": 0,
        "severity": DEFAULT_SEVERITY[kind],
        "channels": list(DEFAULT_CHANNELS),
        "default_of": kind,
    }


@dataclass(frozen=True)
class Target:
    """What a rule applies to: one device (its type known) or a site (the types of devices it may hold)."""

    device_type: str | None  # None for a site rule


def validate_rule(
    fields: Mapping[str, Any], target: Target, type_metrics: Mapping[str, tuple[str, ...]]
) -> tuple[dict[str, Any], list[FieldError]]:
    """The rule's fields normalised (metric/operator implied by the kind filled in), and every problem."""
    out = dict(fields)
    problems: list[FieldError] = []
    kind = out.get("kind")
    if kind not in KINDS:
        return out, [FieldError("kind", f"one of {', '.join(KINDS)}")]
    metric, operator, threshold = out.get("metric"), out.get("operator"), out.get("threshold")
    for_s = out.get("for_s", 0)
    if not isinstance(for_s, int) or isinstance(for_s, bool) or not 0 <= for_s <= MAX_FOR_S:
        problems.append(FieldError("forS", f"an integer from 0 to {MAX_FOR_S} seconds"))
    if out.get("severity") is None:
        out["severity"] = DEFAULT_SEVERITY.get(kind, "warning")
    elif out["severity"] not in SEVERITIES:
        problems.append(FieldError("severity", f"one of {', '.join(SEVERITIES)}"))
    channels = out.get("channels")
    if channels is None:
        out["channels"] = list(DEFAULT_CHANNELS)
    elif not channels or any(c not in CHANNELS for c in channels):
        problems.append(FieldError("channels", f"a non-empty subset of {', '.join(CHANNELS)}"))
    else:
        out["channels"] = [c for c in CHANNELS if c in channels]
    device_type = target.device_type
    reported = (
        set(type_metrics.get(device_type, ()))
        if device_type is not None
        else {m for metrics in type_metrics.values() for m in metrics}
    )
    if kind == "threshold":
        if metric is None:
            problems.append(FieldError("metric", "required for a threshold rule"))
        elif metric not in reported:
            what = f"a {device_type}" if device_type else "any device type"
            problems.append(FieldError("metric", f"not a metric {what} reports: one of {', '.join(sorted(reported))}"))
        if operator is None:
            problems.append(FieldError("operator", "required for a threshold rule"))
        elif operator not in OPERATORS:
            problems.append(FieldError("operator", f"one of {', '.join(OPERATORS)}"))
        if threshold is None:
            problems.append(FieldError("threshold", "required for a threshold rule"))
    elif kind == "low_level":
        if metric not in (None, LOW_LEVEL_METRIC):
            problems.append(FieldError("metric", f"a low_level rule watches {LOW_LEVEL_METRIC}"))
        if operator not in (None, "<", "<="):
            problems.append(FieldError("operator", "a low_level rule uses < or <="))
        if threshold is None:
            problems.append(FieldError("threshold", "required for a low_level rule (percent)"))
        elif not 0 <= threshold <= 100:
            problems.append(FieldError("threshold", "a percentage from 0 to 100"))
        out["metric"], out["operator"] = LOW_LEVEL_METRIC, operator or "<"
    elif kind in BASELINE_KINDS:
        implied = BASELINE_METRIC[kind]
        if metric not in (None, implied):
            problems.append(FieldError("metric", f"a {kind} rule compares {implied}"))
        if operator is not None:
            problems.append(FieldError("operator", f"a {kind} rule takes no operator: it compares with a baseline"))
        if threshold is not None and not 0.5 <= threshold <= 10:
            problems.append(FieldError("threshold", "k, the number of robust spreads from the median: 0.5 to 10"))
        if device_type is None:
            problems.append(FieldError("siteId", f"a {kind} rule watches one device (deviceId)"))
        elif implied not in reported:
            problems.append(FieldError("deviceId", f"a {device_type} does not report {implied}"))
        if isinstance(for_s, int) and for_s != 0:
            problems.append(FieldError("forS", f"0 for a {kind} rule: it judges whole 15-minute intervals"))
        out["metric"], out["threshold"] = implied, threshold if threshold is not None else DEFAULT_K
    else:
        for name, value in (("metric", metric), ("operator", operator), ("threshold", threshold)):
            if value is not None:
                problems.append(FieldError(name, f"a {kind} rule takes no {name}"))
    if kind in ("leak", "low_level") and device_type not in (None, GAS_SENSOR):
        problems.append(FieldError("deviceId", f"{kind} rules are for gas sensors, not a {device_type}"))
    if kind == "offline" and isinstance(for_s, int) and for_s != 0:
        problems.append(FieldError("forS", "0 for an offline rule: the device's offlineAfterS is its hold-down"))
    return out, problems
