"""The typed hot path equals the previous implementation (tests/support/telemetry_reference.py).

- typed decoding (msgspec) accepts exactly the messages JSON Schema (with the finite-number rule) accepts,
  and yields the same ts, seq and metrics, with the same Python types;
- the validator's results (readings and every reason) are those of the previous validator;
- rollup deltas and the TransactItems built for random reading streams are those of before.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.telemetry import readings
from gridshare.telemetry.readings import (
    COUNTERS,
    METRICS,
    SPLIT_CAP_MS,
    CounterState,
    Reading,
    TelemetryValidator,
)
from gridshare.telemetry.rollups import (
    counter_state,
    rollup_deltas,
)
from gridshare.telemetry.store import TelemetryStore
from tests.support.telemetry_reference import (
    reference_rollup_deltas,
    reference_transact_items,
    reference_validate,
)
from tests.unit.telemetry.test_telemetry_validation import (
    BACKFILL,
    JUNK,
    MAX_FUTURE,
    NOW,
    near_valid_documents,
    valid_messages,
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEVICE = "meter-0001"
VALIDATOR = TelemetryValidator()

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def integral_float_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Valid messages with ints written as floats (12.0), bounds hit exactly, and v as 1.0 or true."""
    doc: dict[str, Any] = draw(valid_messages())
    for key in draw(st.lists(st.sampled_from(["ts", "seq"]), unique=True)):
        doc[key] = float(doc[key]) + draw(st.sampled_from([0.0, 0.0, 0.5]))
    for name in COUNTERS:
        if name in doc["metrics"] and draw(st.booleans()):
            doc["metrics"][name] = float(doc["metrics"][name])
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(METRICS)))
        metric = METRICS[name]
        if metric.kind != "flag":
            doc["metrics"][name] = draw(st.sampled_from([metric.minimum, metric.maximum, float(metric.maximum)]))
    if draw(st.booleans()):
        doc["v"] = draw(st.sampled_from([1, 1.0, True, 2, 0]))
    if draw(st.booleans()):
        doc["seq"] = draw(st.sampled_from([2**63 - 1, 2**63, float(2**63), -1, -0.0]))
    return doc


def documents() -> st.SearchStrategy[Any]:
    return st.one_of(valid_messages(), near_valid_documents(), integral_float_documents(), JSON_VALUES, JUNK)


def payloads() -> st.SearchStrategy[bytes]:
    """Messages as bytes on the wire: JSON of documents (NaN and Infinity as Python writes them) or noise."""
    return st.one_of(documents().map(lambda d: json.dumps(d).encode()), st.binary(max_size=40))


def schema_accepts(payload: bytes) -> bool:
    """The previous definition of a schema-valid message: JSON, an object, no jsonschema error, finite."""
    doc, reasons = TelemetryValidator._parse(payload)
    return doc is not None and not TelemetryValidator._schema_reasons(doc)


def typed(values: dict[str, Any]) -> list[tuple[str, type, Any]]:
    """A dict's items with their types: 230 and 230.0 are equal in a dict, not on the wire."""
    return sorted((k, type(v), v) for k, v in values.items())


def test_the_typed_decoder_is_compiled_from_the_schema() -> None:
    # Given the v1 schema; When the module was imported; Then the hot path exists
    assert readings._TYPED is not None


@PROPERTY
@given(payload=payloads())
def test_property_typed_decoding_accepts_exactly_what_the_schema_accepts(payload: bytes) -> None:
    # Given any payload: valid, near-valid, integral floats, bounds, garbage JSON or bytes
    # When the typed decoder and JSON Schema judge it
    decoded = readings._decode_typed(payload)
    # Then they agree, and an accepted message decodes to the values JSON gives (ints where the schema
    # says integer)
    assert (decoded is not None) == schema_accepts(payload), payload
    if decoded is not None:
        doc = json.loads(payload)
        ts, seq, metrics = decoded
        assert (type(ts), type(seq)) == (int, int)
        assert (ts, seq) == (doc["ts"], doc["seq"])
        expected = {k: int(v) if k in COUNTERS else v for k, v in doc["metrics"].items()}
        assert typed(metrics) == typed(expected)


@st.composite
def previous_states(draw: st.DrawFn) -> CounterState | None:
    if draw(st.booleans()):
        return None
    counters = {c: draw(st.integers(0, 10**13)) for c in COUNTERS if draw(st.booleans())}
    return CounterState(draw(st.integers(NOW - BACKFILL - 1000, NOW + MAX_FUTURE + 1000)), 0, counters)


def str_payloads() -> st.SearchStrategy[str]:
    """Messages passed as str (the validator accepts them too), lone surrogates included."""
    return st.one_of(
        documents().map(json.dumps),
        documents().map(lambda d: json.dumps(d, ensure_ascii=False)),
        st.text(max_size=20),
        valid_messages().map(lambda d: json.dumps({**d, "\ud800": 1}, ensure_ascii=False)),
    )


@PROPERTY
@given(
    payload=st.one_of(payloads(), str_payloads()),
    previous=previous_states(),
    now=st.integers(NOW - 60_000, NOW + 60_000),
)
def test_property_the_validator_answers_as_before(
    payload: bytes | str, previous: CounterState | None, now: int
) -> None:
    # Given any payload, stored state and clock
    # When the hot path and the previous validator judge it
    result = VALIDATOR.validate(payload, device_id=DEVICE, now_ms=now, previous=previous)
    before = reference_validate(VALIDATOR, payload, device_id=DEVICE, now_ms=now, previous=previous)
    # Then the same reading (same values and types) or the same reasons, in the same order
    assert result.reasons == before.reasons
    assert (result.reading is None) == (before.reading is None)
    if result.reading is not None and before.reading is not None:
        assert result.reading == before.reading
        assert typed(result.reading.metrics) == typed(before.reading.metrics)


GAPS = st.one_of(
    st.integers(1, 20 * 60_000),
    st.integers(-30 * 60_000, 0),  # late readings and duplicate timestamps
    st.integers(1, 6 * 3_600_000),
    st.integers(SPLIT_CAP_MS - 3_600_000, SPLIT_CAP_MS + 3_600_000),
)


@st.composite
def reading_streams(draw: st.DrawFn) -> list[Reading]:
    """Readings of one device as they arrive: mostly newer, some late; counters grow; metric sets vary."""
    ts = draw(st.integers(NOW - 3 * 86_400_000, NOW))
    counters = {c: draw(st.integers(0, 10**9)) for c in COUNTERS}
    stream: list[Reading] = []
    for seq in range(draw(st.integers(1, 12))):
        names = draw(st.lists(st.sampled_from(sorted(METRICS)), min_size=1, max_size=5, unique=True))
        metrics: dict[str, Any] = {}
        for name in names:
            kind = METRICS[name].kind
            if kind == "counter":
                counters[name] += draw(st.integers(0, 10**6))
                metrics[name] = counters[name]
            elif kind == "flag":
                metrics[name] = draw(st.booleans())
            else:
                metrics[name] = draw(st.one_of(st.integers(-100, 1000), st.floats(-1e5, 1e5), st.just(1e-05)))
        stream.append(Reading(DEVICE, ts, seq, metrics))
        ts += draw(GAPS)
    return stream


def parsed(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The actions with their JSON string attributes parsed: the same JSON may be written differently."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"S"} and node["S"].startswith("{"):
                return {"S(json)": json.loads(node["S"])}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(actions)


@PROPERTY
@given(stream=reading_streams())
def test_property_rollups_and_write_requests_are_as_before(stream: list[Reading]) -> None:
    # Given a stream of readings of one device, applied as the ingest service does
    store = TelemetryStore(raw_ttl_s=30 * 86400)
    previous: CounterState | None = None
    for reading in stream:
        if previous is not None and reading.ts < previous.ts:
            late_counters = {c: v for c, v in reading.metrics.items() if c in COUNTERS}
            if any(late_counters[c] > previous.counters.get(c, late_counters[c]) for c in late_counters):
                continue  # the validator rejects a late reading above the state
        # When rollups and the transaction are built
        deltas = rollup_deltas(reading, previous)
        new_state = counter_state(reading, previous)
        actions = store.transact_items(reading, deltas, previous, new_state, reading.ts + 500)
        # Then they are those of the previous implementation
        expected_deltas = reference_rollup_deltas(reading, previous)
        assert [(d.resolution, d.bucket_start, d.count, d.sums, d.energy_wh) for d in deltas] == expected_deltas
        expected = reference_transact_items(
            reading,
            expected_deltas,
            previous,
            new_state,
            reading.ts + 500,
            tables=store._write_tables,
            raw_ttl_s=store.raw_ttl_s,
            marker_ttl_s=store.marker_ttl_s,
        )
        assert parsed(actions) == parsed(expected)
        previous = new_state


@st.composite
def out_of_range_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Valid messages with values out of their range: sensor faults, ts in seconds, a negative seq."""
    doc: dict[str, Any] = draw(valid_messages())
    ranged = [name for name in doc["metrics"] if METRICS[name].kind != "flag"]
    for name in draw(st.lists(st.sampled_from(ranged), unique=True)) if ranged else []:
        metric = METRICS[name]
        assert metric.minimum is not None and metric.maximum is not None
        beyond = st.one_of(
            st.integers(int(metric.maximum) + 1, int(metric.maximum) * 10 + 10),
            st.integers(int(metric.minimum) - 10 * abs(int(metric.minimum)) - 10, int(metric.minimum) - 1),
        )
        if metric.kind == "gauge":
            beyond = beyond | st.floats(metric.maximum, 1e300, exclude_min=True)
        doc["metrics"][name] = draw(beyond)
    if draw(st.booleans()):
        doc["ts"] = doc["ts"] // 1000  # seconds, not milliseconds
    if draw(st.booleans()):
        doc["seq"] = -draw(st.integers(1, 10))
    return doc


def test_range_faults_are_named_without_jsonschema() -> None:
    # Given messages whose only faults are values out of range, in two metrics and ts
    doc = {"v": 1, "ts": NOW // 1000, "seq": 0, "metrics": {"voltage_v": 9999, "power_w": 12.5, "frequency_hz": 44.5}}
    explain = readings._RANGE_REASONS
    assert explain is not None
    # When the compiled explainer names them
    # Then it gives jsonschema's reasons, in the schema's order (ts, then voltage before frequency)
    reasons = explain(doc)
    assert reasons == TelemetryValidator._jsonschema_reasons(doc)
    assert [r.field for r in reasons or []] == ["ts", "metrics.voltage_v", "metrics.frequency_hz"]
    assert reasons is not None and reasons[1].message == "voltage_v 9999 V is above the physical maximum 1000 V"
    # And anything else wrong (a type, an unknown metric) is left to jsonschema
    assert explain({**doc, "metrics": {"voltage_v": "230"}}) is None
    assert explain({**doc, "metrics": {"voltage_v": 9999, "bogus": 1}}) is None
    assert explain({**doc, "ts": NOW, "metrics": {"voltage_v": 230}}) is None  # nothing out of range


@PROPERTY
@given(doc=st.one_of(out_of_range_documents(), documents()))
def test_property_range_reasons_are_jsonschemas(doc: Any) -> None:
    # Given any document: valid, out of range, near-valid, integral floats, garbage
    explain = readings._RANGE_REASONS
    assert explain is not None
    # When the explainer answers
    explained = explain(doc)
    # Then it names exactly what jsonschema names, in the same order
    if explained is not None:
        assert explained == TelemetryValidator._jsonschema_reasons(doc)


@PROPERTY
@given(doc=out_of_range_documents())
def test_property_a_range_fault_never_needs_jsonschema(doc: dict[str, Any]) -> None:
    # Given a message whose only faults are values out of range (exact JSON types)
    expected = TelemetryValidator._jsonschema_reasons(doc)
    # When the explainer judges it; Then it answers whenever there is a fault, with jsonschema's reasons
    explain = readings._RANGE_REASONS
    assert explain is not None
    assert explain(doc) == (expected or None)
