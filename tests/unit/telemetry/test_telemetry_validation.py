"""Validation of device telemetry messages (gridshare.telemetry.readings): every reason, no AWS."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridshare
from gridshare.telemetry import readings as telemetry
from gridshare.telemetry.readings import (
    COUNTERS,
    MAX_PAYLOAD_BYTES,
    METRICS,
    CounterState,
    Metric,
    Reading,
    Reason,
    TelemetryValidator,
)

REPO = Path(__file__).resolve().parents[3]
NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEVICE = "meter-0001"
VALIDATOR = TelemetryValidator()
MAX_FUTURE = 300_000
BACKFILL = 7 * 86_400_000

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def message(**overrides: Any) -> dict[str, Any]:
    """A valid message from a smart meter; keyword overrides replace top-level fields."""
    doc: dict[str, Any] = {
        "ts": NOW - 60_000,
        "seq": 42,
        "metrics": {
            "power_w": 1520.5,
            "voltage_v": 231.2,
            "current_a": 6.6,
            "frequency_hz": 50.01,
            "energy_import_wh": 1_234_567,
            "energy_export_wh": 89_012,
            "temperature_c": 21.5,
        },
    }
    doc.update(overrides)
    return doc


def with_metrics(**metrics: Any) -> dict[str, Any]:
    doc = message()
    doc["metrics"] = {**doc["metrics"], **metrics}
    return doc


def validate(payload: Any, previous: CounterState | None = None, now: int = NOW) -> telemetry.ValidationResult:
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    return VALIDATOR.validate(payload, device_id=DEVICE, now_ms=now, previous=previous)


def fields(result: telemetry.ValidationResult) -> set[str]:
    return {r.field for r in result.reasons}


def only_reason(result: telemetry.ValidationResult) -> Reason:
    assert not result.ok
    assert result.reading is None
    assert len(result.reasons) == 1, result.reasons
    return result.reasons[0]


# --------------------------------------------------------------------------------------------------
# The schema is the single source of truth
# --------------------------------------------------------------------------------------------------


def test_the_layer_reads_the_schema_of_the_iot_rules_through_a_relative_symlink() -> None:
    # Given the schema file the IoT rules use and the one shipped in the gridshare package
    source = REPO / "iot_rules" / "schemas" / "telemetry-v1.schema.json"
    shipped = Path(gridshare.__file__).parent / "schemas" / "telemetry-v1.schema.json"
    # When both are resolved
    # Then the package's file is a relative link to the rules' file, and METRICS is read from it
    assert shipped.is_symlink()
    assert not Path(shipped.readlink()).is_absolute()
    assert shipped.resolve() == source.resolve()
    assert json.loads(source.read_text(encoding="utf-8")) == telemetry.SCHEMA
    assert set(METRICS) == set(telemetry.SCHEMA["properties"]["metrics"]["properties"])


def test_metric_catalogue_has_the_units_kinds_and_physical_ranges() -> None:
    # Given the metric catalogue built at import
    # When looking up each metric
    # Then units, kinds and ranges are those of the v1 contract
    expected = {
        "power_w": ("W", "gauge", -1_000_000, 1_000_000),
        "voltage_v": ("V", "gauge", 0, 1000),
        "current_a": ("A", "gauge", -5000, 5000),
        "frequency_hz": ("Hz", "gauge", 45, 65),
        "energy_import_wh": ("Wh", "counter", 0, 10**13),
        "energy_export_wh": ("Wh", "counter", 0, 10**13),
        "soc_pct": ("%", "gauge", 0, 100),
        "gas_level_pct": ("%", "gauge", 0, 100),
        "leak": ("", "flag", None, None),
        "temperature_c": ("°C", "gauge", -50, 150),
        "pv_power_w": ("W", "gauge", 0, 1_000_000),
    }
    assert {n: (m.unit, m.kind, m.minimum, m.maximum) for n, m in METRICS.items()} == expected
    assert all(isinstance(m, Metric) and m.description for m in METRICS.values())
    assert COUNTERS == ("energy_import_wh", "energy_export_wh")


def test_the_fast_pre_check_is_compiled_from_the_schema() -> None:
    # Given the schema uses only keywords the fast pre-check understands
    # When the module was imported
    # Then the pre-check exists (otherwise every message would pay for full jsonschema validation)
    assert telemetry._FAST_CHECK is not None


# --------------------------------------------------------------------------------------------------
# Accepted messages
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode", [lambda d: json.dumps(d).encode(), json.dumps, lambda d: d], ids=["bytes", "str", "dict"]
)
def test_a_valid_message_becomes_a_reading(encode: Any) -> None:
    # Given a valid meter message, as bytes, str or already parsed
    doc = message()
    # When it is validated
    result = VALIDATOR.validate(encode(doc), device_id=DEVICE, now_ms=NOW, previous=None)
    # Then it is accepted as a reading of that device, without reasons
    assert result.ok
    assert result.reasons == ()
    assert result.reading == Reading(device_id=DEVICE, ts=doc["ts"], seq=42, metrics=doc["metrics"])


def test_the_optional_schema_version_1_is_accepted() -> None:
    # Given a message that declares "v": 1
    # When it is validated
    result = validate(message(v=1))
    # Then it is accepted
    assert result.ok


def test_integral_floats_are_stored_as_integers() -> None:
    # Given ts, seq and a counter written as integral JSON numbers with a fraction part (12.0)
    raw = b'{"ts": 1767225540000.0, "seq": 7.0, "metrics": {"energy_import_wh": 1000.0, "power_w": 5.0}}'
    # When it is validated
    result = validate(raw)
    # Then JSON Schema counts them as integers, and the reading holds ints for ts, seq and counters
    assert result.ok and result.reading is not None
    assert type(result.reading.ts) is int and type(result.reading.seq) is int
    assert result.reading.metrics["energy_import_wh"] == 1000
    assert type(result.reading.metrics["energy_import_wh"]) is int


def test_the_reading_does_not_share_the_callers_metrics_dict() -> None:
    # Given an already parsed message, validated
    doc = message()
    reading = VALIDATOR.validate(doc, device_id=DEVICE, now_ms=NOW, previous=None).reading
    # When the caller then mutates its dict
    doc["metrics"]["power_w"] = -1
    # Then the reading keeps the validated values
    assert reading is not None
    assert reading.metrics["power_w"] == 1520.5


# --------------------------------------------------------------------------------------------------
# Whole-message reasons ("$")
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{", b'{"ts": 1,}', b"", b"\xff\xfe{}", "{'ts': 1}"])
def test_json_that_does_not_parse_is_rejected_as_a_whole(raw: bytes | str) -> None:
    # Given a payload that is not JSON (truncated, trailing comma, empty, not UTF-8, Python repr)
    # When it is validated
    reason = only_reason(validate(raw))
    # Then there is one reason for the whole message
    assert reason.field == "$"
    assert reason.message.startswith("not valid JSON")


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"[1, 2]", "array"), (b"3", "number"), (b'"x"', "string"), (b"null", "null")]
)
def test_json_that_is_not_an_object_is_rejected(raw: bytes, kind: str) -> None:
    # Given valid JSON whose top level is not an object
    # When it is validated
    reason = only_reason(validate(raw))
    # Then the whole message is rejected, naming what it got
    assert reason == Reason("$", f"message must be a JSON object, got {kind}")


def test_deeply_nested_json_is_rejected_without_crashing() -> None:
    # Given 10 000 nested arrays (under the size limit, beyond the parser's recursion limit)
    raw = b"[" * 10_000 + b"]" * 10_000
    # When it is validated
    reason = only_reason(validate(raw))
    # Then it is one whole-message reason, not a RecursionError
    assert reason.field == "$"


def test_payloads_above_16_kib_are_rejected_before_parsing() -> None:
    # Given a message padded with whitespace to 16 KiB + 1 byte, and one of exactly 16 KiB
    body = json.dumps(message()).encode()
    too_big = body + b" " * (MAX_PAYLOAD_BYTES + 1 - len(body))
    at_limit = body + b" " * (MAX_PAYLOAD_BYTES - len(body))
    # When both are validated
    # Then the larger is refused with its size, the other is accepted
    assert only_reason(validate(too_big)) == Reason(
        "$", f"message is {MAX_PAYLOAD_BYTES + 1} bytes, above the limit of {MAX_PAYLOAD_BYTES} bytes"
    )
    assert validate(at_limit).ok


def test_the_size_limit_counts_utf8_bytes_of_a_str_payload() -> None:
    # Given a str payload of fewer than 16 Ki characters but more than 16 KiB once encoded
    body = json.dumps(message())
    payload = body + ("\u00a0" * ((MAX_PAYLOAD_BYTES - len(body)) // 2 + 1))  # NBSP: 2 bytes each
    assert len(payload) <= MAX_PAYLOAD_BYTES < len(payload.encode())
    # When it is validated
    reason = only_reason(validate(payload))
    # Then it is refused for size
    assert reason.field == "$" and "above the limit" in reason.message


# --------------------------------------------------------------------------------------------------
# Structure: required, unknown and typed fields
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["ts", "seq", "metrics"])
def test_each_missing_required_field_is_named(missing: str) -> None:
    # Given a message without one required field
    doc = message()
    del doc[missing]
    # When it is validated
    # Then the reason names that field
    assert only_reason(validate(doc)) == Reason(missing, f"missing required field {missing!r}")


def test_unknown_top_level_fields_are_rejected_one_reason_each() -> None:
    # Given a message with two fields the schema does not know (the device id is never in the body)
    doc = message(device_id="meter-0001", extra=1)
    # When it is validated
    result = validate(doc)
    # Then each is named
    assert fields(result) == {"device_id", "extra"}
    assert all("unknown field" in r.message for r in result.reasons)


def test_unknown_metrics_are_rejected_with_their_dotted_path() -> None:
    # Given a message with a misspelt metric and an unsupported one
    doc = with_metrics(voltage=230, humidity_pct=40)
    # When it is validated
    result = validate(doc)
    # Then each is named as metrics.<name>, and the message lists the known metrics
    assert fields(result) == {"metrics.voltage", "metrics.humidity_pct"}
    reason = next(r for r in result.reasons if r.field == "metrics.voltage")
    assert reason.message.startswith("unknown metric 'voltage'")
    assert "voltage_v" in reason.message


@pytest.mark.parametrize("version", [2, 0, "1", True])
def test_other_schema_versions_are_rejected(version: Any) -> None:
    # Given a message declaring a version other than 1
    # When it is validated
    reason = only_reason(validate(message(v=version)))
    # Then the reason is on "v"
    assert reason.field == "v"
    assert "only supported schema version" in reason.message


def test_empty_metrics_are_rejected() -> None:
    # Given a message with no metric at all
    # When it is validated
    # Then "metrics" is the field
    assert only_reason(validate(message(metrics={}))) == Reason("metrics", "metrics must contain at least one metric")


@pytest.mark.parametrize("metrics", [[], "power_w=5", 5, None])
def test_metrics_that_are_not_an_object_are_rejected(metrics: Any) -> None:
    # Given a message whose metrics are not an object
    # When it is validated
    reason = only_reason(validate(message(metrics=metrics)))
    # Then the reason is on "metrics"
    assert reason.field == "metrics"
    assert reason.message.startswith("metrics must be an object")


def test_ts_in_seconds_is_rejected_with_a_hint() -> None:
    # Given a device that sends epoch seconds instead of milliseconds
    ts_seconds = (NOW - 60_000) // 1000
    # When it is validated
    reason = only_reason(validate(message(ts=ts_seconds)))
    # Then the reason says so
    assert reason == Reason(
        "ts",
        f"ts {ts_seconds} ms is below the minimum 1000000000000 ms (ts is epoch milliseconds, not seconds)",
    )


@pytest.mark.parametrize("ts", ["2026-01-01T00:00:00Z", 1767225540000.5, True, None])
def test_ts_that_is_not_an_integer_is_rejected(ts: Any) -> None:
    # Given a ts that is a string, has a fraction, is a boolean or null
    # When it is validated
    reason = only_reason(validate(message(ts=ts)))
    # Then the reason is on ts (and no clock check runs on a value that is not a timestamp)
    assert reason.field == "ts"
    assert reason.message.startswith("ts must be an integer")


@pytest.mark.parametrize(
    ("seq", "text"),
    [
        (-1, "seq -1 is below the minimum 0"),
        (True, "seq must be an integer"),
        (1.5, "seq must be an integer"),
        ("1", "seq must be an integer"),
        (2**63, "seq 9223372036854775808 is above the maximum 9223372036854775807"),
    ],
)
def test_seq_must_be_a_non_negative_int64(seq: Any, text: str) -> None:
    # Given a bad sequence number (negative, not an integer, beyond int64)
    # When it is validated
    reason = only_reason(validate(message(seq=seq)))
    # Then the reason is on seq
    assert reason.field == "seq"
    assert reason.message.startswith(text)


# --------------------------------------------------------------------------------------------------
# Metric values: physical ranges, types, non-finite numbers
# --------------------------------------------------------------------------------------------------


def test_range_error_names_the_unit_and_the_physical_range() -> None:
    # Given a voltage of 1200 V
    # When it is validated
    # Then the reason reads like the contract
    assert only_reason(validate(with_metrics(voltage_v=1200))) == Reason(
        "metrics.voltage_v", "voltage_v 1200 V is above the physical maximum 1000 V"
    )


RANGED = [m for m in METRICS.values() if m.minimum is not None and m.maximum is not None]


@pytest.mark.parametrize("metric", RANGED, ids=[m.name for m in RANGED])
def test_every_ranged_metric_rejects_values_below_and_above_its_range(metric: Metric) -> None:
    # Given a value just below the minimum and one just above the maximum of a metric
    assert metric.minimum is not None and metric.maximum is not None
    below, above = metric.minimum - 1, metric.maximum + 1
    # When each is validated
    low = only_reason(validate(with_metrics(**{metric.name: below})))
    high = only_reason(validate(with_metrics(**{metric.name: above})))
    # Then each reason names the metric, the value, the bound and the unit
    unit = f" {metric.unit}"
    assert low == Reason(
        f"metrics.{metric.name}",
        f"{metric.name} {below}{unit} is below the physical minimum {metric.minimum}{unit}",
    )
    assert high == Reason(
        f"metrics.{metric.name}",
        f"{metric.name} {above}{unit} is above the physical maximum {metric.maximum}{unit}",
    )


@pytest.mark.parametrize("metric", RANGED, ids=[m.name for m in RANGED])
def test_every_ranged_metric_accepts_its_bounds(metric: Metric) -> None:
    # Given the exact minimum and maximum of a metric
    # When each is validated
    # Then both are physical values and accepted
    assert validate(with_metrics(**{metric.name: metric.minimum})).ok
    assert validate(with_metrics(**{metric.name: metric.maximum})).ok


def test_a_negative_power_is_export_and_valid() -> None:
    # Given a prosumer exporting 4.2 kW
    # When it is validated
    # Then negative power is accepted
    assert validate(with_metrics(power_w=-4200.0, current_a=-18.2)).ok


@pytest.mark.parametrize("name", ["power_w", "voltage_v", "soc_pct", "energy_import_wh"])
def test_a_boolean_is_not_a_number(name: str) -> None:
    # Given true where a number is expected (Python's bool is an int; JSON's is not)
    # When it is validated
    reason = only_reason(validate(with_metrics(**{name: True})))
    # Then it is rejected as a boolean
    assert reason.field == f"metrics.{name}"
    assert reason.message.endswith("got boolean true")


@pytest.mark.parametrize("value", [1, 0, "true", None])
def test_a_flag_must_be_a_boolean(value: Any) -> None:
    # Given a leak flag sent as a number, a string or null
    # When it is validated
    reason = only_reason(validate(with_metrics(leak=value)))
    # Then it is rejected on metrics.leak
    assert reason.field == "metrics.leak"
    assert reason.message.startswith("leak must be a boolean")


@pytest.mark.parametrize("flag", [True, False])
def test_a_boolean_flag_is_accepted(flag: bool) -> None:
    # Given an LPG sensor reporting its level and the leak flag
    # When it is validated
    result = validate(message(metrics={"gas_level_pct": 37.5, "leak": flag}))
    # Then the flag keeps its boolean value
    assert result.ok and result.reading is not None
    assert result.reading.metrics["leak"] is flag


@pytest.mark.parametrize("name", COUNTERS)
def test_counters_must_be_whole_watt_hours(name: str) -> None:
    # Given a counter with a fraction of a Wh
    # When it is validated
    # Then the reason asks for an integer number of Wh
    assert only_reason(validate(with_metrics(**{name: 1234.5}))) == Reason(
        f"metrics.{name}", f"{name} must be an integer number of Wh, got number 1234.5"
    )


@pytest.mark.parametrize("metric", ["power_w", "soc_pct", "temperature_c", "energy_export_wh"])
@pytest.mark.parametrize(("token", "shown"), [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf")])
def test_nan_and_infinity_are_rejected(metric: str, token: str, shown: str) -> None:
    # Given a metric sent as NaN or +-Infinity (Python's json accepts them; JSON does not have them)
    body = json.dumps(with_metrics(**{metric: 0}))
    raw = body.replace(f'"{metric}": 0', f'"{metric}": {token}')
    # When it is validated
    # Then it is exactly one reason on that metric (NaN would otherwise pass every range check)
    assert only_reason(validate(raw)) == Reason(f"metrics.{metric}", f"{metric} must be a finite number, got {shown}")


def test_an_overflowing_number_is_rejected() -> None:
    # Given a number too large for a double (the parser turns it into inf)
    raw = json.dumps(with_metrics(power_w=0)).replace('"power_w": 0', '"power_w": 1e400')
    # When it is validated
    reason = only_reason(validate(raw))
    # Then it is rejected on that metric
    assert reason == Reason("metrics.power_w", "power_w must be a finite number, got inf")


def test_nan_in_an_already_parsed_message_is_rejected() -> None:
    # Given a parsed message with NaN in ts and a metric
    doc = with_metrics(voltage_v=math.nan)
    doc["ts"] = math.nan
    # When it is validated
    result = VALIDATOR.validate(doc, device_id=DEVICE, now_ms=NOW, previous=None)
    # Then both are named
    assert fields(result) == {"ts", "metrics.voltage_v"}


# --------------------------------------------------------------------------------------------------
# The clock: not in the future, not older than the backfill window
# --------------------------------------------------------------------------------------------------


def test_ts_up_to_the_allowed_clock_skew_is_accepted_and_one_ms_more_is_not() -> None:
    # Given readings at exactly now + 5 min and at now + 5 min + 1 ms
    # When they are validated
    # Then the first is accepted and the second rejected on ts
    assert validate(message(ts=NOW + MAX_FUTURE)).ok
    reason = only_reason(validate(message(ts=NOW + MAX_FUTURE + 1)))
    assert reason.field == "ts"
    assert reason.message == (
        f"ts {NOW + MAX_FUTURE + 1} is {MAX_FUTURE + 1} ms in the future; "
        f"at most {MAX_FUTURE} ms of clock skew is accepted (now {NOW})"
    )


def test_ts_at_the_edge_of_the_backfill_window_is_accepted_and_one_ms_older_is_not() -> None:
    # Given readings exactly 7 days old and 7 days + 1 ms old
    # When they are validated
    # Then the first is accepted and the second rejected on ts
    assert validate(message(ts=NOW - BACKFILL)).ok
    reason = only_reason(validate(message(ts=NOW - BACKFILL - 1)))
    assert reason.field == "ts"
    assert "beyond the backfill window" in reason.message


def test_the_clock_window_is_configurable() -> None:
    # Given a validator with 1 s of skew and 1 h of backfill
    strict = TelemetryValidator(max_future_ms=1000, backfill_ms=3_600_000)
    # When readings 2 s ahead and 2 h old are validated
    ahead = strict.validate(message(ts=NOW + 2000), device_id=DEVICE, now_ms=NOW, previous=None)
    old = strict.validate(message(ts=NOW - 7_200_000), device_id=DEVICE, now_ms=NOW, previous=None)
    # Then both are rejected on ts
    assert fields(ahead) == {"ts"} and fields(old) == {"ts"}


@pytest.mark.parametrize("kwargs", [{"max_future_ms": -1}, {"backfill_ms": 0}])
def test_a_nonsensical_clock_window_is_refused(kwargs: dict[str, int]) -> None:
    # Given a negative skew or an empty backfill window
    # When the validator is built
    # Then it refuses
    with pytest.raises(ValueError):
        TelemetryValidator(**kwargs)


# --------------------------------------------------------------------------------------------------
# Cumulative counters are monotonic
# --------------------------------------------------------------------------------------------------

PREVIOUS = CounterState(ts=NOW - 120_000, seq=41, counters={"energy_import_wh": 1_234_000, "energy_export_wh": 89_000})


def test_a_counter_that_went_backwards_is_rejected() -> None:
    # Given the stored state and a newer reading whose import counter is lower
    doc = with_metrics(energy_import_wh=1_233_999)
    # When it is validated against the state
    reason = only_reason(validate(doc, previous=PREVIOUS))
    # Then the reason says from what to what
    assert reason == Reason("metrics.energy_import_wh", "counter went backwards from 1234000 to 1233999 Wh")
    assert str(reason) == "metrics.energy_import_wh: counter went backwards from 1234000 to 1233999 Wh"


def test_both_counters_going_backwards_give_two_reasons() -> None:
    # Given a meter that was reset (both counters restart near zero)
    doc = with_metrics(energy_import_wh=10, energy_export_wh=0)
    # When it is validated
    result = validate(doc, previous=PREVIOUS)
    # Then both counters are named
    assert fields(result) == {"metrics.energy_import_wh", "metrics.energy_export_wh"}


def test_a_counter_that_did_not_move_is_accepted() -> None:
    # Given a newer reading with the same counter values (no energy flowed)
    doc = with_metrics(energy_import_wh=1_234_000, energy_export_wh=89_000)
    # When it is validated
    # Then it is accepted
    assert validate(doc, previous=PREVIOUS).ok


def test_a_late_reading_above_the_later_counter_is_rejected() -> None:
    # Given a reading older than the stored state whose counter is higher than the stored one
    doc = message(ts=PREVIOUS.ts - 60_000, metrics={"energy_import_wh": 1_234_001, "energy_export_wh": 89_000})
    # When it is validated
    reason = only_reason(validate(doc, previous=PREVIOUS))
    # Then it is rejected: a counter cannot have been higher before
    assert reason.field == "metrics.energy_import_wh"
    assert reason.message == (
        f"late reading (ts {PREVIOUS.ts - 60_000}) has counter 1234001 Wh, "
        f"above the 1234000 Wh of the later reading at ts {PREVIOUS.ts}"
    )


def test_a_late_reading_below_the_later_counter_is_accepted() -> None:
    # Given a reading buffered while offline, older and lower than the stored state
    doc = message(ts=PREVIOUS.ts - 60_000, metrics={"energy_import_wh": 1_233_900, "energy_export_wh": 89_000})
    # When it is validated
    # Then it is accepted (backfill)
    assert validate(doc, previous=PREVIOUS).ok


def test_a_reading_at_the_stored_timestamp_is_not_judged_on_counters() -> None:
    # Given a reading at the same ts as the stored state (a duplicate: the service resolves it by seq)
    doc = message(ts=PREVIOUS.ts, metrics={"energy_import_wh": 1})
    # When it is validated
    # Then the counters are not compared
    assert validate(doc, previous=PREVIOUS).ok


def test_counters_without_a_stored_value_set_the_baseline() -> None:
    # Given no stored state, and a stored state that has no export counter yet
    doc = with_metrics(energy_export_wh=5)
    # When each is validated
    # Then nothing is compared
    assert validate(doc, previous=None).ok
    assert validate(doc, previous=CounterState(PREVIOUS.ts, 41, {"energy_import_wh": 1})).ok


def test_an_invalid_counter_is_reported_once_and_not_compared() -> None:
    # Given a counter that is not an integer, and a stored state
    doc = with_metrics(energy_import_wh="1234")
    # When it is validated
    reason = only_reason(validate(doc, previous=PREVIOUS))
    # Then only the type is reported
    assert reason.message.startswith("energy_import_wh must be an integer number of Wh")


# --------------------------------------------------------------------------------------------------
# Every reason at once
# --------------------------------------------------------------------------------------------------


def test_every_reason_is_collected_not_just_the_first() -> None:
    # Given a message that is wrong in many ways at once
    raw = json.dumps(
        {
            "ts": NOW + 3_600_000,
            "seq": -1,
            "v": 3,
            "site": "x",
            "metrics": {
                "voltage_v": 1200,
                "frequency_hz": 10,
                "power_w": True,
                "leak": "no",
                "energy_import_wh": 1,
                "energy_export_wh": 0.5,
                "foo": 1,
                "soc_pct": 0,
            },
        }
    ).replace('"soc_pct": 0', '"soc_pct": NaN')
    # When it is validated against a stored state
    result = validate(raw, previous=PREVIOUS)
    # Then every field is named, once
    assert not result.ok and result.reading is None
    assert fields(result) == {
        "ts",
        "seq",
        "v",
        "site",
        "metrics.voltage_v",
        "metrics.frequency_hz",
        "metrics.power_w",
        "metrics.leak",
        "metrics.energy_import_wh",  # went backwards
        "metrics.energy_export_wh",  # not an integer
        "metrics.foo",
        "metrics.soc_pct",
    }
    assert len(result.reasons) == len(set(result.reasons)) == 12


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------


def metric_value(metric: Metric) -> st.SearchStrategy[Any]:
    if metric.kind == "flag":
        return st.booleans()
    assert metric.minimum is not None and metric.maximum is not None
    if metric.kind == "counter":
        return st.integers(int(metric.minimum), int(metric.maximum))
    return st.one_of(
        st.floats(metric.minimum, metric.maximum, allow_nan=False, allow_infinity=False),
        st.integers(int(metric.minimum), int(metric.maximum)),
    )


@st.composite
def valid_messages(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(METRICS)), min_size=1, max_size=len(METRICS), unique=True))
    doc: dict[str, Any] = {
        "ts": draw(st.integers(NOW - BACKFILL, NOW + MAX_FUTURE)),
        "seq": draw(st.integers(0, 2**63 - 1)),
        "metrics": {name: draw(metric_value(METRICS[name])) for name in names},
    }
    if draw(st.booleans()):
        doc["v"] = 1
    return doc


@PROPERTY
@given(doc=valid_messages())
def test_property_every_valid_message_is_accepted(doc: dict[str, Any]) -> None:
    # Given any message within the contract, as bytes on the wire
    # When it is validated
    result = validate(doc)
    # Then it is accepted and the reading carries exactly its values
    assert result.ok, result.reasons
    assert result.reading is not None
    assert (result.reading.ts, result.reading.seq) == (doc["ts"], doc["seq"])
    assert result.reading.metrics == doc["metrics"]


@st.composite
def one_field_out_of_range(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    doc = draw(valid_messages())
    candidates = ["ts", "seq", *sorted(METRICS)]
    field = draw(st.sampled_from(candidates))
    if field == "ts":
        doc["ts"] = draw(
            st.one_of(
                st.integers(0, 10**12 - 1),  # seconds, not ms
                st.integers(NOW + MAX_FUTURE + 1, NOW + 10 * 365 * 86_400_000),  # future
                st.integers(10**12, NOW - BACKFILL - 1),  # older than the backfill window
            )
        )
        return doc, "ts"
    if field == "seq":
        doc["seq"] = draw(st.one_of(st.integers(-(2**63), -1), st.integers(2**63, 2**70)))
        return doc, "seq"
    metric = METRICS[field]
    if metric.kind == "flag":
        value: Any = draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
    else:
        assert metric.minimum is not None and metric.maximum is not None
        excess = draw(st.one_of(st.integers(1, 10**15), st.floats(1, 1e15)))
        value = metric.maximum + excess if draw(st.booleans()) else metric.minimum - excess
        if metric.kind == "counter":
            value = int(value)
    doc["metrics"][field] = value
    return doc, f"metrics.{field}"


@PROPERTY
@given(case=one_field_out_of_range())
def test_property_one_field_out_of_range_is_rejected_naming_exactly_that_field(
    case: tuple[dict[str, Any], str],
) -> None:
    # Given a valid message with one field pushed out of its range
    doc, field = case
    # When it is validated
    result = validate(doc)
    # Then it is rejected with reasons on exactly that field
    assert not result.ok and result.reading is None
    assert fields(result) == {field}, result.reasons


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**14), 10**14),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def near_valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = draw(valid_messages())
    for key in draw(st.lists(st.sampled_from(["ts", "seq", "v", "extra"]), max_size=2, unique=True)):
        doc[key] = draw(JUNK)
    if draw(st.booleans()):
        doc.pop(draw(st.sampled_from(["ts", "seq", "metrics"])), None)
    metrics = doc.get("metrics")
    if isinstance(metrics, dict):
        for key in draw(st.lists(st.sampled_from([*METRICS, "bogus"]), max_size=3, unique=True)):
            metrics[key] = draw(JUNK)
        if draw(st.booleans()) and metrics:
            metrics.pop(draw(st.sampled_from(sorted(metrics))))
    return doc


@PROPERTY
@given(doc=near_valid_documents())
def test_property_the_fast_pre_check_never_accepts_what_the_schema_rejects(doc: dict[str, Any]) -> None:
    # Given a message with random corruption (types, ranges, NaN, missing and unknown fields)
    fast = telemetry._FAST_CHECK
    assert fast is not None
    # When the fast pre-check accepts it
    # Then full JSON Schema validation finds no error either
    if fast(doc):
        assert list(telemetry._SCHEMA_VALIDATOR.iter_errors(doc)) == []
