"""Telemetry domain: validation of device messages (their rollups: :mod:`gridshare.telemetry.rollups`).

Pure Python (stdlib, msgspec, and jsonschema for rejections only), no AWS imports: the ingest service
parses an SQS record, calls
:meth:`TelemetryValidator.validate`, and for an accepted reading writes the latest state
(``rollups.counter_state``), the raw reading and the rollups (``rollups.rollup_deltas``, each entry one
atomic DynamoDB ``ADD``). Rejected messages go to the dead-letter table with every :class:`Reason`, so a
device developer sees all that is wrong with a message at once rather than fixing one field per round
trip.

The message schema ``iot_rules/schemas/telemetry-v1.schema.json`` is the single source of truth for the
metrics, their units, kinds and physical ranges: :data:`METRICS` is read from it, and the same file is
what the IoT rules and the device documentation use. It is read once, at import, and compiled into a
typed msgspec decoder (``typed_schema.compile_typed``) that accepts exactly the messages the schema accepts.
That decoder is the hot path (~1 µs a message); jsonschema is imported and compiled only when a message
is rejected, to name every reason (its import costs ~55 ms of a cold start, its validation ~140 µs).

Records on the hot path (:class:`Reading`, :class:`CounterState`, :class:`RollupDelta`,
:class:`ValidationResult`) are frozen msgspec Structs: built in ~0.1 µs instead of ~0.7 µs for a frozen
dataclass. Their dicts are shared, not copied (the rollups of one reading share one ``sums``): treat
them as read-only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from gridshare.telemetry.typed_schema import compile_fast, compile_typed, decode_typed

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = [
    "COUNTERS",
    "MAX_PAYLOAD_BYTES",
    "METRICS",
    "RESOLUTIONS",
    "SCHEMA",
    "SPLIT_CAP_MS",
    "CounterState",
    "Metric",
    "Reading",
    "Reason",
    "TelemetryValidator",
    "ValidationResult",
    "load_schema",
]

RESOLUTIONS: dict[str, int] = {"15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}
"""Rollup resolutions (name -> bucket length in ms). Buckets are aligned to the UTC epoch."""

MAX_PAYLOAD_BYTES = 16 * 1024
"""Largest accepted message on the wire. A v1 message with every metric is ~400 bytes; anything near
16 KiB is a firmware bug or abuse, and refusing it before parsing bounds the work one message can cause."""

SPLIT_CAP_MS = 2 * 86_400_000
"""Longest gap between two readings over which interval energy is spread; see :func:`rollup_deltas`."""

SCHEMA_RESOURCE = ("schemas", "telemetry-v1.schema.json")

_METRIC_KINDS = ("gauge", "counter", "flag")


# --------------------------------------------------------------------------------------------------
# The schema and the metric catalogue derived from it
# --------------------------------------------------------------------------------------------------


def load_schema() -> dict[str, Any]:
    """Read the v1 message schema shipped with the ``gridshare`` package.

    ``gridshare/schemas/telemetry-v1.schema.json`` is a symlink to ``iot_rules/schemas/`` in the
    repository, so the layer and the IoT rules read the same file (the layer build must follow links).
    """
    text = resources.files("gridshare").joinpath(*SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class Metric:
    """One measurable quantity of a v1 message, as declared in the schema."""

    name: str
    unit: str
    kind: str  # "gauge" | "counter" | "flag"
    minimum: float | None
    maximum: float | None
    description: str


def _metrics_from_schema(schema: Mapping[str, Any]) -> dict[str, Metric]:
    """Build the metric catalogue; fail at import if the schema lacks what the domain relies on."""
    props: Mapping[str, Any] = schema["properties"]["metrics"]["properties"]
    metrics: dict[str, Metric] = {}
    for name, spec in props.items():
        kind = spec.get("x-kind")
        if kind not in _METRIC_KINDS:
            raise ValueError(f"telemetry schema: metric {name!r} has x-kind {kind!r}, not one of {_METRIC_KINDS}")
        if kind == "counter" and spec.get("type") != "integer":
            # Energy is integer Wh everywhere (ledger, settlement); a float counter would leak rounding.
            raise ValueError(f"telemetry schema: counter {name!r} must be of type integer")
        metrics[name] = Metric(
            name=name,
            unit=str(spec.get("x-unit", "")),
            kind=kind,
            minimum=spec.get("minimum"),
            maximum=spec.get("maximum"),
            description=str(spec.get("description", "")),
        )
    return metrics


SCHEMA: dict[str, Any] = load_schema()
METRICS: dict[str, Metric] = _metrics_from_schema(SCHEMA)
COUNTERS: tuple[str, ...] = tuple(name for name, m in METRICS.items() if m.kind == "counter")
_COUNTER_FIELDS: tuple[tuple[str, str], ...] = tuple((name, f"metrics.{name}") for name in COUNTERS)


@cache
def schema_validator() -> Draft202012Validator:
    """The compiled jsonschema validator, built on the first rejection (never on the accepting path)."""
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


def __getattr__(name: str) -> Any:
    if name == "_SCHEMA_VALIDATOR":  # the name tests and tools used before it became lazy
        return schema_validator()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_DECODER = json.JSONDecoder()
_NOTHING_BAD: frozenset[str] = frozenset()


_FAST_CHECK = compile_fast(SCHEMA)
"""The pre-check of messages that arrive already parsed (a dict); bytes and str take the typed decoder."""
_TYPED = compile_typed(SCHEMA)
_decode_typed = partial(decode_typed, _TYPED)
# A str of this many characters is at most MAX_PAYLOAD_BYTES in UTF-8: longer ones are measured by _parse.
_TYPED_MAX_LEN = MAX_PAYLOAD_BYTES // 4


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why a message was rejected. ``field`` is a dotted path ("ts", "metrics.voltage_v") or "$"."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class Reading(msgspec.Struct, frozen=True):
    """An accepted reading: integers for ts, seq and counters, the other metrics as sent."""

    device_id: str
    ts: int
    seq: int
    metrics: dict[str, float | int | bool]


class CounterState(msgspec.Struct, frozen=True):
    """The device's latest stored reading, as far as validation and rollups need it."""

    ts: int
    seq: int
    counters: dict[str, int]


class ValidationResult(msgspec.Struct, frozen=True):
    """Either a reading (no reasons) or every reason the message was rejected (no reading)."""

    reading: Reading | None
    reasons: tuple[Reason, ...]

    @property
    def ok(self) -> bool:
        return self.reading is not None and not self.reasons


_JSON_TYPE_NAMES: dict[str, str] = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "an object",
    "array": "an array",
    "string": "a string",
}


def _json_type(value: Any) -> str:
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


def _describe(error: ValidationError) -> list[Reason]:
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
        return [Reason(field, f"{name} must be {wanted_text}, got {_json_type(value)} {_fmt(value)}")]
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


def _non_finite(doc: Mapping[str, Any]) -> list[Reason]:
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


def _as_int(value: Any) -> int:
    """Schema-valid integers may arrive as integral floats (JSON ``12.0``); store them as int."""
    return value if type(value) is int else int(value)


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


class TelemetryValidator:
    """Validates v1 messages: schema and physical ranges, clock window, counter monotonicity.

    Stateless apart from its settings: the device's stored state is passed in (``previous``), so one
    validator serves every device and every Lambda invocation.
    """

    def __init__(self, *, max_future_ms: int = 300_000, backfill_ms: int = 7 * 86_400_000) -> None:
        """``max_future_ms`` tolerates device clock skew; ``backfill_ms`` is how long a device may buffer
        readings while offline and still have them ingested (older ones would land in settled intervals)."""
        if max_future_ms < 0:
            raise ValueError("max_future_ms must be >= 0")
        if backfill_ms <= 0:
            raise ValueError("backfill_ms must be > 0")
        self.max_future_ms = max_future_ms
        self.backfill_ms = backfill_ms

    def validate(
        self,
        payload: bytes | str | Mapping[str, Any],
        *,
        device_id: str,
        now_ms: int,
        previous: CounterState | None,
    ) -> ValidationResult:
        """Validate one message and collect every reason it is not acceptable.

        ``payload`` is the message as it arrived (bytes/str JSON) or already parsed. ``previous`` is the
        device's latest stored state, or None for its first reading.
        """
        kind = type(payload)
        if (kind is bytes and len(payload) <= MAX_PAYLOAD_BYTES) or (kind is str and len(payload) <= _TYPED_MAX_LEN):
            decoded = _decode_typed(payload)  # type: ignore[arg-type]
            if decoded is not None:  # the hot path: schema-valid, as decided by the typed decoder
                return self.accept(device_id, *decoded, now_ms=now_ms, previous=previous)
        doc, reasons = self._parse(payload)
        if doc is None:
            return ValidationResult(None, tuple(reasons))
        if _FAST_CHECK is not None and _FAST_CHECK(doc):
            # An already parsed message (a dict), schema-valid: ts, seq and counters are ints and metrics
            # a dict of known metrics. Only the checks that need the clock and the stored state remain.
            ts = doc["ts"]
            metrics = doc["metrics"]
            if ts > now_ms + self.max_future_ms or ts < now_ms - self.backfill_ms:
                reasons.append(self._clock_reason(ts, now_ms))
            if previous is not None and ts != previous.ts:
                reasons.extend(self._counter_reasons(ts, metrics, previous, _NOTHING_BAD))
            if reasons:
                return ValidationResult(None, tuple(reasons))
            if isinstance(payload, Mapping):  # the caller's dict: do not share it with the reading
                metrics = dict(metrics)
            return ValidationResult(Reading(device_id, ts, doc["seq"], metrics), ())
        return self._validate_in_full(doc, device_id=device_id, now_ms=now_ms, previous=previous)

    def accept(
        self,
        device_id: str,
        ts: int,
        seq: int,
        metrics: dict[str, Any],
        *,
        now_ms: int,
        previous: CounterState | None,
    ) -> ValidationResult:
        """The checks left once a message is known to be schema-valid (`decode_typed`, or a calibrated
        device's `calibration.decode_calibrated`): the clock window and the counters against ``previous``.
        ``metrics`` becomes the reading's (not copied)."""
        if ts > now_ms + self.max_future_ms or ts < now_ms - self.backfill_ms:
            late: list[Reason] = [self._clock_reason(ts, now_ms)]
            if previous is not None and ts != previous.ts:
                late.extend(self._counter_reasons(ts, metrics, previous, _NOTHING_BAD))
            return ValidationResult(None, tuple(late))
        if previous is not None and ts != previous.ts and previous.counters:
            before, newer = previous.counters, ts > previous.ts
            for name in COUNTERS:  # the usual answer, "nothing went backwards", without building reasons
                current = metrics.get(name)
                if (
                    current is not None
                    and name in before
                    and (current < before[name] if newer else current > before[name])
                ):
                    return ValidationResult(None, tuple(self._counter_reasons(ts, metrics, previous, _NOTHING_BAD)))
        return ValidationResult(Reading(device_id, ts, seq, metrics), ())

    def _validate_in_full(
        self, doc: dict[str, Any], *, device_id: str, now_ms: int, previous: CounterState | None
    ) -> ValidationResult:
        """Full JSON Schema validation for messages the fast pre-check did not accept: every reason."""
        reasons = self._schema_reasons(doc)
        bad = {r.field for r in reasons}
        ts_value = doc.get("ts")
        if "ts" not in bad and ts_value is not None:
            ts = _as_int(ts_value)
            if ts > now_ms + self.max_future_ms or ts < now_ms - self.backfill_ms:
                reasons.append(self._clock_reason(ts, now_ms))
            if previous is not None and "metrics" not in bad:
                reasons.extend(self._counter_reasons(ts, doc["metrics"], previous, bad))
        if reasons:
            return ValidationResult(None, _dedupe(reasons))

        metrics: dict[str, float | int | bool] = dict(doc["metrics"])
        for name in COUNTERS:
            if name in metrics:
                metrics[name] = _as_int(metrics[name])
        reading = Reading(device_id=device_id, ts=_as_int(doc["ts"]), seq=_as_int(doc["seq"]), metrics=metrics)
        return ValidationResult(reading, ())

    def _clock_reason(self, ts: int, now_ms: int) -> Reason:
        if ts > now_ms:
            return Reason(
                "ts",
                f"ts {ts} is {ts - now_ms} ms in the future; at most "
                f"{self.max_future_ms} ms of clock skew is accepted (now {now_ms})",
            )
        return Reason(
            "ts",
            f"ts {ts} is {now_ms - ts} ms old, beyond the backfill window of {self.backfill_ms} ms (now {now_ms})",
        )

    @staticmethod
    def _parse(payload: bytes | str | Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Reason]]:
        if isinstance(payload, Mapping):
            doc: Any = payload if type(payload) is dict else dict(payload)
        else:
            size = len(payload)
            if isinstance(payload, str) and size * 4 > MAX_PAYLOAD_BYTES:
                size = len(payload.encode("utf-8", errors="surrogatepass"))
            if size > MAX_PAYLOAD_BYTES:
                return None, [Reason("$", f"message is {size} bytes, above the limit of {MAX_PAYLOAD_BYTES} bytes")]
            try:
                # RFC 8259: JSON exchanged between systems is UTF-8; no encoding sniffing.
                doc = _DECODER.decode(payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload)
            except (
                ValueError,
                RecursionError,
            ) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                return None, [Reason("$", f"not valid JSON: {exc}")]
        if not isinstance(doc, dict):
            return None, [Reason("$", f"message must be a JSON object, got {_json_type(doc)}")]
        return doc, []

    @staticmethod
    def _schema_reasons(doc: Mapping[str, Any]) -> list[Reason]:
        if _RANGE_REASONS is not None:
            explained = _RANGE_REASONS(doc)
            if explained is not None:  # only values out of range: no jsonschema needed to name them
                return explained
        return TelemetryValidator._jsonschema_reasons(doc)

    @staticmethod
    def _jsonschema_reasons(doc: Mapping[str, Any]) -> list[Reason]:
        """Every schema reason, named by jsonschema (imported and compiled on the first call)."""
        reasons = _non_finite(doc)
        non_finite = {r.field for r in reasons}
        for error in schema_validator().iter_errors(doc):
            for reason in _describe(error):
                # A non-finite value already has its reason; Infinity would also fail the range check.
                if reason.field not in non_finite:
                    reasons.append(reason)
        return reasons

    @staticmethod
    def _counter_reasons(ts: int, metrics: Mapping[str, Any], previous: CounterState, bad: Set[str]) -> list[Reason]:
        """Cumulative counters never decrease: check the reading against the device's latest state.

        A newer reading must not be below it; a late (older) reading must not be above it. Equal
        timestamps are not judged here: that is a duplicate, which the service resolves by seq.
        """
        reasons: list[Reason] = []
        for name, field in _COUNTER_FIELDS:
            if name not in metrics or field in bad or name not in previous.counters:
                continue
            current = _as_int(metrics[name])
            before = previous.counters[name]
            if ts > previous.ts and current < before:
                reasons.append(Reason(field, f"counter went backwards from {before} to {current} Wh"))
            elif ts < previous.ts and current > before:
                reasons.append(
                    Reason(
                        field,
                        f"late reading (ts {ts}) has counter {current} Wh, above the "
                        f"{before} Wh of the later reading at ts {previous.ts}",
                    )
                )
        return reasons


_RANGE_REASONS = compile_range_reasons(SCHEMA)
"""Reasons of a message whose only faults are values out of range, without jsonschema (None: not covered)."""


def _dedupe(reasons: list[Reason]) -> tuple[Reason, ...]:
    return tuple(dict.fromkeys(reasons))
