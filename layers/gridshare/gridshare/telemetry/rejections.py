"""Why a telemetry message is refused: :class:`Reason` and the text of each reason (pure; no AWS).

A rejected message is dead-lettered with every reason, worded for a device developer. Two sources name them:

- jsonschema's errors, turned into reasons by :func:`describe` (with :func:`non_finite` for NaN and
  +-Infinity, which JSON has not), used by `gridshare.telemetry.readings.TelemetryValidator` for any
  message the typed decoder refuses;
- :func:`compile_range_reasons`, compiled from the same schema, for the usual fault alone (values out of
  their range): the same reasons in the same order without jsonschema (~2 µs instead of ~100 µs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = ["RangeReasons", "Reason", "compile_range_reasons", "describe", "json_type", "non_finite"]


@dataclass(frozen=True)
class Reason:
    """Why a message was rejected. ``field`` is a dotted path ("ts", "metrics.voltage_v") or "$"."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


_JSON_TYPE_NAMES: dict[str, str] = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "an object",
    "array": "an array",
    "string": "a string",
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _fmt(value: Any) -> str:
    """Render a value the way it appeared in JSON, short enough for a dead-letter reason."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 40 else text[:37] + '..."'
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _with_unit(value: Any, unit: str) -> str:
    return f"{_fmt(value)} {unit}" if unit else _fmt(value)


def _dotted(path: Any) -> str:
    return ".".join(str(p) for p in path) or "$"


def describe(error: ValidationError) -> list[Reason]:
    """Turn one jsonschema error into reasons a device developer can act on."""
    field = _dotted(error.absolute_path)
    name = str(error.absolute_path[-1]) if error.absolute_path else "message"
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    unit = str(schema.get("x-unit", ""))
    is_metric = field.startswith("metrics.")
    value = error.instance
    kind = error.validator

    if kind == "additionalProperties":
        known = schema.get("properties", {})
        extras = [k for k in value if k not in known] if isinstance(value, Mapping) else []
        allowed = ", ".join(known)
        if field == "metrics":
            return [Reason(f"metrics.{k}", f"unknown metric {k!r}; known metrics: {allowed}") for k in extras]
        prefix = "" if field == "$" else f"{field}."
        return [Reason(f"{prefix}{k}", f"unknown field {k!r}; allowed: {allowed}") for k in extras]
    if kind == "required":
        prefix = "" if field == "$" else f"{field}."
        missing = [k for k in error.validator_value if isinstance(value, Mapping) and k not in value]
        return [Reason(f"{prefix}{k}", f"missing required field {k!r}") for k in missing]
    if kind == "type":
        wanted = error.validator_value
        wanted_text = _JSON_TYPE_NAMES.get(wanted, str(wanted)) if isinstance(wanted, str) else str(wanted)
        if wanted == "integer" and unit:
            wanted_text = f"an integer number of {unit}"
        return [Reason(field, f"{name} must be {wanted_text}, got {json_type(value)} {_fmt(value)}")]
    if kind in ("minimum", "maximum"):
        bound = error.validator_value
        side = "below" if kind == "minimum" else "above"
        limit = f"physical {kind}" if is_metric else kind
        message = f"{name} {_with_unit(value, unit)} is {side} the {limit} {_with_unit(bound, unit)}"
        if field == "ts" and kind == "minimum":
            message += " (ts is epoch milliseconds, not seconds)"
        return [Reason(field, message)]
    if kind == "minProperties":
        least = error.validator_value
        return [Reason(field, f"{name} must contain at least {'one metric' if least == 1 else f'{least} metrics'}")]
    if kind == "const":
        if field == "v":
            return [
                Reason(
                    field,
                    f"v must be {_fmt(error.validator_value)} (the only supported schema version), got {_fmt(value)}",
                )
            ]
        return [Reason(field, f"{name} must be {_fmt(error.validator_value)}, got {_fmt(value)}")]
    return [Reason(field, error.message)]


def non_finite(doc: Mapping[str, Any]) -> list[Reason]:
    """NaN and +-Infinity: JSON has no such numbers, and NaN slips through every range comparison."""
    reasons: list[Reason] = []
    for key in ("ts", "seq"):
        value = doc.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            reasons.append(Reason(key, f"{key} must be a finite number, got {_fmt(value)}"))
    metrics = doc.get("metrics")
    if isinstance(metrics, Mapping):
        for key, value in metrics.items():
            if isinstance(value, float) and not math.isfinite(value):
                reasons.append(Reason(f"metrics.{key}", f"{key} must be a finite number, got {_fmt(value)}"))
    return reasons


RangeReasons = Callable[[Mapping[str, Any]], list[Reason] | None]
_ANNOTATIONS = frozenset({"description", "title", "$comment", "examples"})
_EXPLAINED_KEYWORDS = frozenset({"type", "minimum", "maximum", "const", "x-unit", "x-kind"}) | _ANNOTATIONS
_OBJECT_KEYWORDS = frozenset({"type", "required", "properties", "additionalProperties", "minProperties"})


class _Scalar(NamedTuple):
    """One scalar property, as `compile_range_reasons` explains it."""

    name: str
    field: str  # dotted path
    kind: str  # "integer" | "number" | "boolean" | "const"
    const: Any
    low: float | None
    high: float | None
    unit: str


class _Object(NamedTuple):
    field: str  # dotted path, "$" at the top
    required: tuple[str, ...]
    min_properties: int
    properties: dict[str, _Scalar | _Object]


def _compile_object(schema: Mapping[str, Any], field: str) -> _Object | None:
    keywords = {k for k in schema if not k.startswith("x-")} - _EXPLAINED_KEYWORDS - _OBJECT_KEYWORDS
    keywords -= {"$schema", "$id"}
    if keywords or schema.get("type") != "object" or schema.get("additionalProperties", True) is not False:
        return None
    properties: dict[str, _Scalar | _Object] = {}
    for name, spec in schema.get("properties", {}).items():
        path = name if field == "$" else f"{field}.{name}"
        if spec.get("type") == "object":
            nested = _compile_object(spec, path)
            if nested is None:
                return None
            properties[name] = nested
            continue
        if set(spec) - _EXPLAINED_KEYWORDS:
            return None
        if "const" in spec:
            if set(spec) - {"const"} - _ANNOTATIONS or type(spec["const"]) is not int:
                return None
            properties[name] = _Scalar(name, path, "const", spec["const"], None, None, "")
            continue
        kind = spec.get("type")
        ranged = "minimum" in spec or "maximum" in spec
        if kind not in ("integer", "number", "boolean") or (kind == "boolean" and ranged):
            return None
        unit = str(spec.get("x-unit", ""))
        properties[name] = _Scalar(name, path, kind, None, spec.get("minimum"), spec.get("maximum"), unit)
    return _Object(field, tuple(schema.get("required", ())), int(schema.get("minProperties", 0)), properties)


def _range_reason(scalar: _Scalar, value: float, bound: float, side: str) -> Reason:
    """`_describe`'s reason for a minimum or maximum error, built without jsonschema."""
    kind = "minimum" if side == "below" else "maximum"
    limit = f"physical {kind}" if scalar.field.startswith("metrics.") else kind
    message = f"{scalar.name} {_with_unit(value, scalar.unit)} is {side} the {limit} {_with_unit(bound, scalar.unit)}"
    if scalar.field == "ts" and kind == "minimum":
        message += " (ts is epoch milliseconds, not seconds)"
    return Reason(scalar.field, message)


def _object_range_reasons(spec: _Object, doc: Any, reasons: list[Reason]) -> bool:
    """Append the range reasons of `doc` against `spec`; False when anything else may be wrong with it."""
    if type(doc) is not dict or len(doc) < spec.min_properties:
        return False
    properties = spec.properties
    for key in doc:
        if key not in properties:
            return False
    for key in spec.required:
        if key not in doc:
            return False
    for name, sub in properties.items():  # jsonschema's order: the schema's properties, in order
        if name not in doc:
            continue
        value = doc[name]
        if isinstance(sub, _Object):
            if not _object_range_reasons(sub, value, reasons):
                return False
            continue
        kind = sub.kind
        kind_of_value = type(value)
        if kind == "const":
            if kind_of_value is not int or value != sub.const:
                return False
            continue
        if kind == "boolean":
            if kind_of_value is not bool:
                return False
            continue
        if not (kind_of_value is int or (kind == "number" and kind_of_value is float and math.isfinite(value))):
            return False
        if sub.low is not None and value < sub.low:
            reasons.append(_range_reason(sub, value, sub.low, "below"))
        elif sub.high is not None and value > sub.high:
            reasons.append(_range_reason(sub, value, sub.high, "above"))
    return True


def compile_range_reasons(schema: Mapping[str, Any]) -> RangeReasons | None:
    """A rejection's reasons without jsonschema, for the usual fault: a message whose only errors are values
    out of their range (a sensor fault, ts in seconds). It answers only when every field is present, known
    and of its exact JSON type, and some value is out of range: then it returns exactly what jsonschema and
    `_describe` name (same reasons, same order), in ~2 µs instead of ~100 µs. For anything else it returns
    None and jsonschema decides. None when the schema uses something it does not cover."""
    top = _compile_object(schema, "$")
    if top is None:
        return None

    def range_reasons(doc: Mapping[str, Any]) -> list[Reason] | None:
        reasons: list[Reason] = []
        if not _object_range_reasons(top, doc, reasons) or not reasons:
            return None
        return reasons

    return range_reasons
