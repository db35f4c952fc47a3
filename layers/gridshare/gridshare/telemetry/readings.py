"""Telemetry domain: validation of device messages and the rollup deltas they produce.

Pure Python (stdlib + jsonschema), no AWS imports: the ingest service parses an SQS record, calls
:meth:`TelemetryValidator.validate`, and for an accepted reading writes the latest state
(:func:`counter_state`), the raw reading and the rollups (:func:`rollup_deltas`, each entry one atomic
DynamoDB ``ADD``). Rejected messages go to the dead-letter table with every :class:`Reason`, so a device
developer sees all that is wrong with a message at once rather than fixing one field per round trip.

The message schema ``iot_rules/schemas/telemetry-v1.schema.json`` is the single source of truth for the
metrics, their units, kinds and physical ranges: :data:`METRICS` is read from it, and the same file is
what the IoT rules and the device documentation use. It is loaded and compiled once, at import.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from importlib import resources
from typing import Any

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
Draft202012Validator.check_schema(SCHEMA)
METRICS: dict[str, Metric] = _metrics_from_schema(SCHEMA)
COUNTERS: tuple[str, ...] = tuple(name for name, m in METRICS.items() if m.kind == "counter")

_SCHEMA_VALIDATOR = Draft202012Validator(SCHEMA)
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


@dataclass(frozen=True)
class Reading:
    """An accepted reading: integers for ts, seq and counters, the other metrics as sent."""

    device_id: str
    ts: int
    seq: int
    metrics: dict[str, float | int | bool]


@dataclass(frozen=True)
class CounterState:
    """The device's latest stored reading, as far as validation and rollups need it."""

    ts: int
    seq: int
    counters: dict[str, int]


@dataclass(frozen=True)
class ValidationResult:
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
        doc, reasons = self._parse(payload)
        if doc is None:
            return ValidationResult(None, tuple(reasons))
        if _FAST_CHECK is not None and _FAST_CHECK(doc):
            # The common case: schema-valid, so ts, seq and counters are ints and metrics a dict of
            # known metrics. Only the checks that need the clock and the stored state remain.
            ts: int = doc["ts"]
            metrics: dict[str, Any] = doc["metrics"]
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
        for error in _SCHEMA_VALIDATOR.iter_errors(doc):
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


@dataclass(frozen=True)
class RollupDelta:
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
    sums: dict[str, float] = {}
    for name, value in reading.metrics.items():
        kind = _KINDS.get(name)
        if kind == "gauge":
            sums[name] = float(value)
        elif kind == "flag":
            sums[name] = 1.0 if value else 0.0

    # finest bucket start -> counter -> Wh; usually one bucket, the reading's own
    fine: dict[int, dict[str, int]] = {}
    if previous is not None and ts > previous.ts:
        for name in COUNTERS:
            if name not in reading.metrics or name not in previous.counters:
                continue
            delta = int(reading.metrics[name]) - previous.counters[name]
            if delta < 0:
                raise ValueError(
                    f"{name} went backwards from {previous.counters[name]} to "
                    f"{reading.metrics[name]} Wh; validate the reading first"
                )
            if delta == 0:
                continue
            if ts - previous.ts > SPLIT_CAP_MS:
                parts = {ts - ts % _FINEST_MS: delta}
            else:
                parts = _split_energy(delta, previous.ts, ts)
            for start, wh in parts.items():
                if wh:
                    fine.setdefault(start, {})[name] = wh

    deltas: list[RollupDelta] = []
    for res, size in _RESOLUTION_SIZES:  # finest first; within a resolution, buckets in time order
        own = ts - ts % size
        buckets: dict[int, dict[str, int]] = {own: {}}
        for fine_start, fine_parts in fine.items():
            slot = buckets.setdefault(fine_start - fine_start % size, {})
            for metric, energy in fine_parts.items():
                slot[metric] = slot.get(metric, 0) + energy
        for start in sorted(buckets) if len(buckets) > 1 else buckets:
            if start == own:
                deltas.append(RollupDelta(res, start, 1, dict(sums), buckets[start]))
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
