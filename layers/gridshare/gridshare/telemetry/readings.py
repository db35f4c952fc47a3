"""Telemetry domain: validation of device messages and the rollup deltas they produce.

Pure Python (stdlib, msgspec, and jsonschema for rejections only), no AWS imports: the ingest service
parses an SQS record, calls
:meth:`TelemetryValidator.validate`, and for an accepted reading writes the latest state
(:func:`counter_state`), the raw reading and the rollups (:func:`rollup_deltas`, each entry one atomic
DynamoDB ``ADD``). Rejected messages go to the dead-letter table with every :class:`Reason`, so a device
developer sees all that is wrong with a message at once rather than fixing one field per round trip.

The message schema ``iot_rules/schemas/telemetry-v1.schema.json`` is the single source of truth for the
metrics, their units, kinds and physical ranges: :data:`METRICS` is read from it, and the same file is
what the IoT rules and the device documentation use. It is read once, at import, and compiled into a
typed msgspec decoder (:func:`_compile_typed`) that accepts exactly the messages the schema accepts.
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
import sys
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

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
    "RollupDelta",
    "TelemetryValidator",
    "ValidationResult",
    "bucket_start",
    "counter_state",
    "load_schema",
    "rollup_deltas",
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


# --------------------------------------------------------------------------------------------------
# A fast, conservative pre-check compiled from the same schema
# --------------------------------------------------------------------------------------------------

_ANNOTATION_KEYWORDS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples"})
_FAST_KEYWORDS = frozenset(
    {"type", "minimum", "maximum", "const", "required", "properties", "additionalProperties", "minProperties"}
)
_FLOAT_MAX = sys.float_info.max

_Check = Callable[[Any], bool]


def _compile_fast(schema: Mapping[str, Any]) -> _Check | None:
    """Compile a schema into a predicate that returns True only for instances the schema accepts.

    jsonschema's ``iter_errors`` costs ~140 µs for a typical message; this predicate costs a few µs.
    It is conservative, never authoritative: when it says False (or the schema uses a keyword it does
    not know, in which case it is not built at all) the full jsonschema validation runs and decides.
    So it may reject valid edge cases (``1.0`` as an integer, ``const`` by float) but must never accept
    an invalid message; a property test compares the two on random messages.
    """
    spec = _compile_fast_spec(schema)
    if spec is None or isinstance(spec, tuple):
        return None  # the top level must be an object
    return spec


_ScalarSpec = tuple[tuple[type, ...], float, float]
"""(exact Python types accepted, minimum, maximum): checked inline by the enclosing object."""


def _compile_fast_spec(schema: Mapping[str, Any]) -> _Check | _ScalarSpec | None:
    keywords = {k for k in schema if not k.startswith("x-")} - _ANNOTATION_KEYWORDS
    if keywords - _FAST_KEYWORDS:
        return None
    kind = schema.get("type")
    if kind == "object":
        return _compile_fast_object(schema)
    if "properties" in schema or "required" in schema or "minProperties" in schema:
        return None
    if "const" in schema:
        const = schema["const"]
        if kind is not None or type(const) is not int or len(keywords) > 1:
            return None
        return lambda x: type(x) is int and x == const
    # Finite float bounds by default: they also reject NaN (every comparison is False) and +-Infinity.
    lo = schema.get("minimum", -_FLOAT_MAX)
    hi = schema.get("maximum", _FLOAT_MAX)
    if kind == "integer":
        return ((int,), lo, hi)
    if kind == "number":
        return ((int, float), lo, hi)
    if kind == "boolean" and "minimum" not in schema and "maximum" not in schema:
        return ((bool,), -_FLOAT_MAX, _FLOAT_MAX)  # True/False compare as 1/0: always within
    return None


def _compile_fast_object(schema: Mapping[str, Any]) -> _Check | None:
    props: dict[str, _Check | _ScalarSpec] = {}
    for name, sub in schema.get("properties", {}).items():
        spec = _compile_fast_spec(sub)
        if spec is None:
            return None
        props[name] = spec
    additional = schema.get("additionalProperties", True)
    if additional is not True and additional is not False:
        return None
    closed = additional is False
    required = tuple(schema.get("required", ()))
    min_props = int(schema.get("minProperties", 0))

    def check(x: Any) -> bool:
        if type(x) is not dict or len(x) < min_props:
            return False
        for name in required:
            if name not in x:
                return False
        for key, value in x.items():
            spec = props.get(key)
            if spec is None:
                if closed:
                    return False
            elif isinstance(spec, tuple):
                types, lo, hi = spec
                if type(value) not in types or not lo <= value <= hi:
                    return False
            elif not spec(value):
                return False
        return True

    return check


_FAST_CHECK: _Check | None = _compile_fast(SCHEMA)
"""The pre-check of messages that arrive already parsed (a dict); bytes and str take the typed decoder."""


# --------------------------------------------------------------------------------------------------
# The typed decoder: the hot path, compiled from the same schema
# --------------------------------------------------------------------------------------------------

_IntegerRule = tuple[str, float | int, float | int]
"""(field, minimum, maximum) of an integer-typed field: JSON Schema also counts ``12.0`` as an integer,
msgspec does not, so such fields decode as ``int | float`` and a float is checked here."""


@dataclass(frozen=True)
class _Typed:
    decoder: msgspec.json.Decoder[Any]
    integers: tuple[_IntegerRule, ...]  # top-level integer fields
    consts: tuple[tuple[str, Any], ...]  # top-level const fields (decoded as int | float)
    metric_integers: tuple[_IntegerRule, ...]  # integer-typed metrics (the counters)
    min_metrics: int


def _typed_scalar(spec: Mapping[str, Any]) -> tuple[Any, _IntegerRule | None] | None:
    """The msgspec type of one property, and its integer rule; None if msgspec cannot say it exactly."""
    keywords = {k for k in spec if not k.startswith("x-")} - _ANNOTATION_KEYWORDS
    kind = spec.get("type")
    if keywords - {"type", "minimum", "maximum"} or kind not in ("integer", "number", "boolean"):
        return None
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if kind == "boolean":
        return (bool, None) if lo is None and hi is None else None
    if any(bound is not None and type(bound) is not int for bound in (lo, hi)):
        return None
    int_meta = msgspec.Meta(ge=lo, le=hi)
    if kind == "integer":  # a float is compared with the bounds after decoding, exactly
        rule = ("", -math.inf if lo is None else lo, math.inf if hi is None else hi)
        return Annotated[int, int_meta] | float, rule
    if lo is None or hi is None:  # unbounded: JSON's 1e400 is inf to jsonschema, an error to msgspec
        return None
    if float(lo) != lo or float(hi) != hi:  # msgspec compares a float with a float bound
        return None
    return Annotated[int, int_meta] | Annotated[float, msgspec.Meta(ge=float(lo), le=float(hi))], None


_Fields = list[tuple[str, Any] | tuple[str, Any, Any]]


def _typed_fields(schema: Mapping[str, Any]) -> tuple[_Fields, list[_IntegerRule], list[tuple[str, Any]]] | None:
    """Struct fields (required first) of a closed object schema's scalar properties, its integer rules
    and const fields; None if msgspec cannot express it exactly. Object properties are left to the caller."""
    if schema.get("additionalProperties", True) is not False:
        return None
    required = set(schema.get("required", ()))
    fields: _Fields = []
    optional: _Fields = []
    integers: list[_IntegerRule] = []
    consts: list[tuple[str, Any]] = []
    for prop, spec in schema.get("properties", {}).items():
        if spec.get("type") == "object":
            continue
        keywords = {k for k in spec if not k.startswith("x-")} - _ANNOTATION_KEYWORDS
        if "const" in spec:
            if keywords != {"const"} or type(spec["const"]) is not int:
                return None
            typ: Any = int | float  # 1.0 equals the const 1 for JSON Schema: compared after decoding
            consts.append((prop, spec["const"]))
        else:
            scalar = _typed_scalar(spec)
            if scalar is None:
                return None
            typ, rule = scalar
            if rule is not None:
                integers.append((prop, rule[1], rule[2]))
        if prop in required:
            fields.append((prop, typ))
        else:
            optional.append((prop, typ | msgspec.UnsetType, msgspec.UNSET))
    return fields + optional, integers, consts


def _compile_typed(schema: Mapping[str, Any]) -> _Typed | None:
    """Compile the v1 schema into a msgspec decoder that accepts exactly what the schema accepts.

    Returns None when the schema uses something this translation does not cover (then every message
    takes the jsonschema path: slow but right). A few checks remain after decoding (integral floats,
    const, minProperties), made by :func:`_decode_typed`. A property test compares the acceptance of
    the two on random valid, near-valid and garbage messages.
    """
    keywords = {k for k in schema if not k.startswith("x-")} - _ANNOTATION_KEYWORDS
    if keywords - {"type", "required", "additionalProperties", "properties"} or schema.get("type") != "object":
        return None
    properties: Mapping[str, Any] = schema.get("properties", {})
    nested = [p for p, spec in properties.items() if spec.get("type") == "object"]
    if nested != ["metrics"] or "metrics" not in schema.get("required", ()):
        return None
    metrics_schema = properties["metrics"]
    metric_keywords = {k for k in metrics_schema if not k.startswith("x-")} - _ANNOTATION_KEYWORDS
    if metric_keywords - {"type", "additionalProperties", "properties", "minProperties"}:
        return None
    metrics = _typed_fields(metrics_schema)
    top = _typed_fields(schema)
    if metrics is None or top is None or metrics[2]:
        return None
    metric_fields, metric_integers, _ = metrics
    top_fields, integers, consts = top
    if any(len(f) == 3 for f in metric_fields if f[0] in metrics_schema.get("required", ())):
        return None  # pragma: no cover - required metrics would need ordering here too
    metrics_struct = msgspec.defstruct(
        "TelemetryMetrics", metric_fields, forbid_unknown_fields=True, omit_defaults=True, frozen=True
    )
    required_top = [f for f in top_fields if len(f) == 2]
    optional_top = [f for f in top_fields if len(f) == 3]
    message = msgspec.defstruct(
        "TelemetryMessage",
        [*required_top, ("metrics", metrics_struct), *optional_top],
        forbid_unknown_fields=True,
        frozen=True,
    )
    return _Typed(
        decoder=msgspec.json.Decoder(message),
        integers=tuple(integers),
        consts=tuple(consts),
        metric_integers=tuple(metric_integers),
        min_metrics=int(metrics_schema.get("minProperties", 0)),
    )


_TYPED: _Typed | None = _compile_typed(SCHEMA)
# A str of this many characters is at most MAX_PAYLOAD_BYTES in UTF-8: longer ones are measured by _parse.
_TYPED_MAX_LEN = MAX_PAYLOAD_BYTES // 4
_UNSET = msgspec.UNSET
_to_builtins = msgspec.to_builtins


def _integral(value: float, lo: float | int, hi: float | int) -> int | None:
    """A float an integer-typed field accepts (JSON Schema: integral and within range), as an int."""
    if value.is_integer() and lo <= value <= hi:  # Python compares a float and an int exactly
        return int(value)
    return None


def _decode_typed(payload: bytes | str) -> tuple[int, int, dict[str, Any]] | None:
    """(ts, seq, metrics) of a schema-valid message, or None: then the jsonschema path decides and explains.

    ``metrics`` holds the values as sent (int or float, bool for flags), counters as ints, in the
    schema's order.
    """
    typed = _TYPED
    if typed is None:
        return None
    try:
        msg = typed.decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeEncodeError):  # a str with a lone surrogate
        return None
    for name, const in typed.consts:
        value = getattr(msg, name)
        if value is not _UNSET and value != const:
            return None
    for name, lo, hi in typed.integers:
        value = getattr(msg, name)
        if type(value) is float and _integral(value, lo, hi) is None:
            return None
    metrics: dict[str, Any] = _to_builtins(msg.metrics)
    if len(metrics) < typed.min_metrics:
        return None
    for name, lo, hi in typed.metric_integers:
        value = metrics.get(name)
        if type(value) is float:
            integral = _integral(value, lo, hi)
            if integral is None:
                return None
            metrics[name] = integral
    ts, seq = msg.ts, msg.seq
    return (ts if type(ts) is int else int(ts)), (seq if type(seq) is int else int(seq)), metrics


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
                ts, seq, metrics = decoded
                if ts > now_ms + self.max_future_ms or ts < now_ms - self.backfill_ms:
                    late: list[Reason] = [self._clock_reason(ts, now_ms)]
                    if previous is not None and ts != previous.ts:
                        late.extend(self._counter_reasons(ts, metrics, previous, _NOTHING_BAD))
                    return ValidationResult(None, tuple(late))
                if previous is not None and ts != previous.ts:
                    counter_reasons = self._counter_reasons(ts, metrics, previous, _NOTHING_BAD)
                    if counter_reasons:
                        return ValidationResult(None, tuple(counter_reasons))
                return ValidationResult(Reading(device_id, ts, seq, metrics), ())
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
        for name in COUNTERS:
            field = f"metrics.{name}"
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


def _dedupe(reasons: list[Reason]) -> tuple[Reason, ...]:
    return tuple(dict.fromkeys(reasons))


# --------------------------------------------------------------------------------------------------
# Rollups
# --------------------------------------------------------------------------------------------------


class RollupDelta(msgspec.Struct, frozen=True):
    """What one reading adds to one rollup bucket (applied with an atomic DynamoDB ADD).

    ``count`` and ``sums`` (gauges, and flags as 0/1) give averages as sum / count; ``energy_wh`` is the
    interval energy attributed to the bucket, keyed by counter name.
    """

    resolution: str
    bucket_start: int
    count: int
    sums: dict[str, float]
    energy_wh: dict[str, int]


_FINEST = min(RESOLUTIONS, key=RESOLUTIONS.__getitem__)
_FINEST_MS = RESOLUTIONS[_FINEST]
_RESOLUTION_SIZES: tuple[tuple[str, int], ...] = tuple(sorted(RESOLUTIONS.items(), key=lambda item: item[1]))
_KINDS: dict[str, str] = {name: m.kind for name, m in METRICS.items()}
if any(ms % _FINEST_MS for ms in RESOLUTIONS.values()):  # pragma: no cover - guards an edit of RESOLUTIONS
    raise ValueError("every rollup resolution must be a multiple of the finest one")


def bucket_start(ts: int, resolution: str) -> int:
    """Start (epoch ms, UTC-aligned) of the ``resolution`` bucket that contains ``ts``."""
    try:
        size = RESOLUTIONS[resolution]
    except KeyError:
        raise ValueError(f"unknown resolution {resolution!r}; expected one of {', '.join(RESOLUTIONS)}") from None
    return ts - ts % size


def _split_energy(delta: int, prev_ts: int, ts: int) -> dict[int, int]:
    """Split ``delta`` Wh over the finest buckets covering the ms ticks ``(prev_ts, ts]``.

    Each bucket's weight is the number of milliseconds of the interval it holds; parts are integers that
    sum exactly to ``delta`` (largest remainder; ties go to the later bucket, i.e. towards the reading).
    """
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
    remainders.sort(reverse=True)  # largest remainder first; on a tie, the later bucket first
    for _, start in remainders[: delta - allotted]:
        parts[start] += 1
    return parts


def rollup_deltas(reading: Reading, previous: CounterState | None) -> list[RollupDelta]:
    """The ADDs one accepted reading makes to the 15 min, 1 h and 1 day rollups.

    Every resolution gets ``count=1`` and the gauge/flag sums in the reading's own bucket. Energy is the
    increase of each cumulative counter since ``previous`` (only when the reading is newer than it: the
    first reading only sets the baseline and a late reading's energy is already accounted for by its
    neighbours). That interval energy belongs to the time between the two readings, so it is spread over
    the buckets of ``(previous.ts, reading.ts]`` in proportion to time: a meter that reports every 20
    minutes still fills every 15 min settlement interval.

    The split is made on the 15 min buckets (settlement's intervals get the exact largest-remainder
    apportionment) and summed up into the 1 h and 1 day buckets, so the rollups stay consistent with each
    other: the 15 min buckets of an hour add up to that hour, the hours of a day to that day.

    Gaps longer than :data:`SPLIT_CAP_MS` (2 days) are not spread: the whole delta goes to the reading's
    bucket. After a long outage nothing is known about when the energy flowed, so an even spread would
    invent a flat profile, write it into intervals that settlement has already closed, and cost one
    write per 15 min bucket of the gap (192 for 2 days, unbounded beyond). A spike at reconnection is
    honest, bounded, and easy to spot.

    ADDs are not idempotent: the caller applies them once per reading, after discarding duplicate
    deliveries (same ts and seq). Averages are ``sums[m] / count``, which assumes a device sends the same
    metrics in every reading.

    Raises ValueError if a counter went backwards: validate the reading first.
    """
    ts = reading.ts
    metrics = reading.metrics
    sums: dict[str, float] = {}
    for name, value in metrics.items():
        kind = _KINDS.get(name)
        if kind == "gauge":
            sums[name] = float(value)
        elif kind == "flag":
            sums[name] = 1.0 if value else 0.0

    own_fine = ts - ts % _FINEST_MS
    energy: dict[str, int] = {}  # interval energy that lands in the reading's own finest bucket
    fine: dict[int, dict[str, int]] | None = None  # finest bucket -> counter -> Wh, once spread wider
    if previous is not None and ts > previous.ts:
        prev_ts = previous.ts
        # Usually the previous reading is in the same finest bucket (or the gap is past the cap): then
        # every counter's energy goes to the reading's own bucket and nothing needs spreading.
        spread = prev_ts + 1 < own_fine and ts - prev_ts <= SPLIT_CAP_MS
        before = previous.counters
        for name in COUNTERS:
            if name not in metrics or name not in before:
                continue
            delta = int(metrics[name]) - before[name]
            if delta < 0:
                raise ValueError(
                    f"{name} went backwards from {before[name]} to {metrics[name]} Wh; validate the reading first"
                )
            if delta == 0:
                continue
            if not spread:
                energy[name] = delta
                continue
            if fine is None:
                fine = {}
            for start, wh in _split_energy(delta, prev_ts, ts).items():
                if wh:
                    fine.setdefault(start, {})[name] = wh

    if fine is None:  # one bucket per resolution, sharing `sums` and `energy`
        return [RollupDelta(res, ts - ts % size, 1, sums, energy) for res, size in _RESOLUTION_SIZES]
    deltas: list[RollupDelta] = []
    for res, size in _RESOLUTION_SIZES:  # finest first; within a resolution, buckets in time order
        own = ts - ts % size
        buckets: dict[int, dict[str, int]] = {own: {}}
        for fine_start, fine_parts in fine.items():
            slot = buckets.setdefault(fine_start - fine_start % size, {})
            for metric, wh in fine_parts.items():
                slot[metric] = slot.get(metric, 0) + wh
        for start in sorted(buckets) if len(buckets) > 1 else buckets:
            if start == own:
                deltas.append(RollupDelta(res, start, 1, sums, buckets[start]))
            else:
                deltas.append(RollupDelta(res, start, 0, {}, buckets[start]))
    return deltas


def counter_state(reading: Reading, previous: CounterState | None) -> CounterState:
    """The device's latest state after storing ``reading``.

    It only advances for a newer reading (a late one changes nothing); counters the reading does not
    carry keep their previous value, so a meter that alternates metric sets keeps both baselines.
    """
    counters = {name: int(reading.metrics[name]) for name in COUNTERS if name in reading.metrics}
    if previous is None:
        return CounterState(ts=reading.ts, seq=reading.seq, counters=counters)
    if reading.ts <= previous.ts:
        return previous
    return CounterState(ts=reading.ts, seq=reading.seq, counters={**previous.counters, **counters})
