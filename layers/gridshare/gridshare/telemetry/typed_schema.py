"""Decoders compiled from the telemetry JSON Schema: the hot path of validation.

:func:`compile_typed` turns the schema into a msgspec decoder (:class:`Typed`) that accepts exactly the
messages the schema accepts (:func:`decode_typed`, ~1 µs a message); :func:`compile_fast` into a
conservative check of an already-parsed message. Anything either refuses goes to jsonschema in
:class:`gridshare.telemetry.readings.TelemetryValidator`, which names every reason. Pure: no AWS imports.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

# --------------------------------------------------------------------------------------------------
# A fast, conservative pre-check compiled from the same schema
# --------------------------------------------------------------------------------------------------

_ANNOTATION_KEYWORDS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples"})
_FAST_KEYWORDS = frozenset(
    {"type", "minimum", "maximum", "const", "required", "properties", "additionalProperties", "minProperties"}
)
_FLOAT_MAX = sys.float_info.max

Check = Callable[[Any], bool]


def compile_fast(schema: Mapping[str, Any]) -> Check | None:
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


def _compile_fast_spec(schema: Mapping[str, Any]) -> Check | _ScalarSpec | None:
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


def _compile_fast_object(schema: Mapping[str, Any]) -> Check | None:
    props: dict[str, Check | _ScalarSpec] = {}
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


# --------------------------------------------------------------------------------------------------
# The typed decoder: the hot path, compiled from the same schema
# --------------------------------------------------------------------------------------------------

_IntegerRule = tuple[str, float | int, float | int]
"""(field, minimum, maximum) of an integer-typed field: JSON Schema also counts ``12.0`` as an integer,
msgspec does not, so such fields decode as ``int | float`` and a float is checked here."""


@dataclass(frozen=True)
class Typed:
    decoder: msgspec.json.Decoder[Any]
    integers: tuple[_IntegerRule, ...]  # top-level integer fields
    consts: tuple[tuple[str, Any], ...]  # top-level const fields (decoded as int | float)
    metric_integers: tuple[_IntegerRule, ...]  # integer-typed metrics (the counters)
    min_metrics: int
    # The same message with integers and consts as ints only: what devices send. It needs no rule checked
    # after decoding; what it refuses (``12.0`` for an integer, or anything invalid) takes `decoder`.
    strict: msgspec.json.Decoder[Any]


def _typed_scalar(
    spec: Mapping[str, Any], unbounded: bool = False, strict: bool = False
) -> tuple[Any, _IntegerRule | None] | None:
    """The msgspec type of one property, and its integer rule; None if msgspec cannot say it exactly.

    `unbounded`: a number or integer decodes as any `int | float` and gets no rule (its value is checked
    by the caller after it changed it: a calibrated metric). `strict`: an integer is an int only (no rule:
    the strict decoder of `compile_typed`, which refuses ``12.0`` and leaves it to the lenient one)."""
    keywords = {k for k in spec if not k.startswith("x-")} - _ANNOTATION_KEYWORDS
    kind = spec.get("type")
    if keywords - {"type", "minimum", "maximum"} or kind not in ("integer", "number", "boolean"):
        return None
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if kind == "boolean":
        return (bool, None) if lo is None and hi is None else None
    if unbounded:
        return int | float, None
    if any(bound is not None and type(bound) is not int for bound in (lo, hi)):
        return None
    int_meta = msgspec.Meta(ge=lo, le=hi)
    if kind == "integer" and strict:
        return Annotated[int, int_meta], None
    if kind == "integer":  # a float is compared with the bounds after decoding, exactly
        rule = ("", -math.inf if lo is None else lo, math.inf if hi is None else hi)
        return Annotated[int, int_meta] | float, rule
    if lo is None or hi is None:  # unbounded: JSON's 1e400 is inf to jsonschema, an error to msgspec
        return None
    if float(lo) != lo or float(hi) != hi:  # msgspec compares a float with a float bound
        return None
    return Annotated[int, int_meta] | Annotated[float, msgspec.Meta(ge=float(lo), le=float(hi))], None


_Fields = list[tuple[str, Any] | tuple[str, Any, Any]]


def _typed_fields(
    schema: Mapping[str, Any], unbounded: frozenset[str] = frozenset(), strict: bool = False
) -> tuple[_Fields, list[_IntegerRule], list[tuple[str, Any]]] | None:
    """Struct fields (required first) of a closed object schema's scalar properties, its integer rules
    and const fields; None if msgspec cannot express it exactly. Object properties are left to the caller;
    the properties named in `unbounded` are typed only (`_typed_scalar`). `strict`: integers and consts
    as ints only (then there are no rules to check after decoding)."""
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
            if strict:
                typ: Any = Literal[spec["const"]]
            else:
                typ = int | float  # 1.0 equals the const 1 for JSON Schema: compared after decoding
                consts.append((prop, spec["const"]))
        else:
            scalar = _typed_scalar(spec, prop in unbounded, strict)
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


def compile_typed(schema: Mapping[str, Any], unbounded: frozenset[str] = frozenset()) -> Typed | None:
    """Compile the v1 schema into a msgspec decoder that accepts exactly what the schema accepts.

    Returns None when the schema uses something this translation does not cover (then every message
    takes the jsonschema path: slow but right). A few checks remain after decoding (integral floats,
    const, minProperties), made by :func:`_decode_typed`. A property test compares the acceptance of
    the two on random valid, near-valid and garbage messages.

    The numeric metrics named in `unbounded` are decoded as any number, with neither their range nor
    their integer rule checked: a calibrated device's decoder (gridshare.telemetry.calibration), whose
    caller checks those metrics after calibrating them.
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
    metrics = _typed_fields(metrics_schema, unbounded)
    top = _typed_fields(schema)
    strict_metrics = _typed_fields(metrics_schema, unbounded, strict=True)
    strict_top = _typed_fields(schema, strict=True)
    if metrics is None or top is None or metrics[2] or strict_metrics is None or strict_top is None:
        return None
    metric_fields, metric_integers, _ = metrics
    top_fields, integers, consts = top
    if any(len(f) == 3 for f in metric_fields if f[0] in metrics_schema.get("required", ())):
        return None  # pragma: no cover - required metrics would need ordering here too
    return Typed(
        decoder=_message_decoder(top_fields, metric_fields),
        integers=tuple(integers),
        consts=tuple(consts),
        metric_integers=tuple(metric_integers),
        min_metrics=int(metrics_schema.get("minProperties", 0)),
        strict=_message_decoder(strict_top[0], strict_metrics[0]),
    )


def _message_decoder(top_fields: _Fields, metric_fields: _Fields) -> msgspec.json.Decoder[Any]:
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
    return msgspec.json.Decoder(message)


_UNSET = msgspec.UNSET
_to_builtins = msgspec.to_builtins


def _integral(value: float, lo: float | int, hi: float | int) -> int | None:
    """A float an integer-typed field accepts (JSON Schema: integral and within range), as an int."""
    if value.is_integer() and lo <= value <= hi:  # Python compares a float and an int exactly
        return int(value)
    return None


def decode_typed(typed: Typed | None, payload: bytes | str) -> tuple[int, int, dict[str, Any]] | None:
    """(ts, seq, metrics) of a schema-valid message, or None: then the jsonschema path decides and explains.

    ``metrics`` holds the values as sent (int or float, bool for flags), counters as ints, in the
    schema's order.
    """
    if typed is None:
        return None
    try:
        msg = typed.strict.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeEncodeError):
        return _decode_lenient(typed, payload)
    metrics: dict[str, Any] = _to_builtins(msg.metrics)
    if len(metrics) < typed.min_metrics:
        return None
    return msg.ts, msg.seq, metrics


def _decode_lenient(typed: Typed, payload: bytes | str) -> tuple[int, int, dict[str, Any]] | None:
    """`decode_typed` for what the strict decoder refused: integral floats where the schema says integer
    (JSON Schema accepts ``12.0``), checked after decoding; None for anything the schema refuses."""
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
