"""The ingest hot path (decision 0026) decides and writes as the reference path does.

- a calibrated device's typed decode (`calibration.decode_calibrated`) accepts only messages that
  `calibrate_payload` followed by `TelemetryValidator.validate` accept, with the same ts, seq, metric values
  and uncalibrated values; it accepts every valid message of the generated kinds;
- the raw item's PutItem request equals the one decision 0016's store sent before
  (tests/support/telemetry_reference.py) for random readings;
- the accepted reading's time is `clock.to_iso`.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.kernel.clock import to_iso
from gridshare.telemetry.calibration import calibrate_payload, compile_calibration, decode_calibrated
from gridshare.telemetry.reading_events import iso_ms
from gridshare.telemetry.readings import COUNTERS, METRICS, CounterState, Reading, TelemetryValidator
from gridshare.telemetry.store import TelemetryStore
from tests.support.telemetry_reference import reference_raw_put
from tests.unit.telemetry.test_telemetry_hot_path import documents, integral_float_documents, typed
from tests.unit.telemetry.test_telemetry_validation import NOW, valid_messages

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALIDATOR = TelemetryValidator()
NUMERIC = sorted(name for name, metric in METRICS.items() if metric.kind != "flag")

FACTORS = st.fixed_dictionaries(
    {
        "scale": st.one_of(st.floats(0.5, 2.0), st.sampled_from([1, 1.0, 0.001, 1000.0])),
        "offset": st.one_of(st.floats(-100, 100), st.integers(-100, 100), st.sampled_from([0, 0.0])),
    }
)
CALIBRATIONS = st.dictionaries(st.sampled_from(NUMERIC + ["leak", "no_such_metric"]), FACTORS, max_size=4)


def reference(payload: bytes, calibration: dict[str, Any], previous: CounterState | None) -> Any:
    message, uncalibrated = calibrate_payload(payload, calibration, COUNTERS)
    return VALIDATOR.validate(message, device_id="dev", now_ms=NOW, previous=previous), uncalibrated


@PROPERTY
@given(doc=st.one_of(valid_messages(), integral_float_documents(), documents()), calibration=CALIBRATIONS)
def test_property_a_calibrated_decode_accepts_only_what_the_reference_path_accepts(
    doc: Any, calibration: dict[str, Any]
) -> None:
    # Given a message on the wire and a device's calibration
    payload = json.dumps(doc).encode()
    plan = compile_calibration(calibration)
    assert plan is not None
    # When the hot path decodes and calibrates it, and the reference path calibrates and validates it
    decoded = decode_calibrated(plan, payload)
    expected, expected_uncalibrated = reference(payload, calibration, None)
    # Then what the hot path accepts, the reference accepts, with the same values (metrics in schema order)
    if decoded is None:
        return
    ts, seq, metrics, uncalibrated = decoded
    result = VALIDATOR.accept("dev", ts, seq, metrics, now_ms=NOW, previous=None)
    assert result.reasons == expected.reasons  # schema-valid both ways: only the clock window may refuse it
    if expected.reading is None:
        return
    assert result.reading is not None and result.reasons == ()
    assert (ts, seq) == (expected.reading.ts, expected.reading.seq)
    assert typed(metrics) == typed(expected.reading.metrics)
    assert typed(uncalibrated) == typed(expected_uncalibrated)
    assert type(ts) is int and type(seq) is int


@PROPERTY
@given(doc=valid_messages(), calibration=CALIBRATIONS)
def test_property_valid_messages_take_the_hot_path_unless_calibration_pushes_them_out_of_range(
    doc: dict[str, Any], calibration: dict[str, Any]
) -> None:
    # Given a valid message and a calibration
    payload = json.dumps(doc).encode()
    plan = compile_calibration(calibration)
    assert plan is not None
    expected, _ = reference(payload, calibration, None)
    # When the hot path decodes it, then it is decoded exactly when the reference path accepts it
    assert (decode_calibrated(plan, payload) is not None) == (expected.reading is not None)


def test_factors_the_plan_cannot_reproduce_leave_the_device_on_the_reference_path() -> None:
    # Given calibrations with a factor that is not a plain number, or missing
    for calibration in (
        {"power_w": {"scale": "2", "offset": 0}},
        {"power_w": {"scale": 2}},
        {"power_w": {"scale": True, "offset": 0}},
    ):
        # Then no plan is compiled: every message is calibrated and validated by the reference path
        assert compile_calibration(calibration) is None
    # And a device without calibration gets a plan with nothing to calibrate
    plan = compile_calibration({})
    assert plan is not None and plan.steps == ()


READINGS = st.builds(
    Reading,
    device_id=st.sampled_from(["dev-1", "meter-0042", "01JDEVICE"]),
    ts=st.integers(10**12, 4 * 10**12),
    seq=st.integers(0, 2**63 - 1),
    metrics=st.dictionaries(
        st.sampled_from(sorted(METRICS)),
        st.one_of(st.floats(-1e6, 1e6), st.integers(0, 10**13), st.booleans()),
        min_size=1,
    ),
)


@PROPERTY
@given(
    readings=st.lists(READINGS, min_size=1, max_size=5),
    received=st.integers(0, 10_000),
    uncalibrated=st.one_of(
        st.none(), st.just({}), st.dictionaries(st.sampled_from(NUMERIC), st.floats(-1e3, 1e3), min_size=1)
    ),
    ttl_days=st.integers(1, 400),
)
def test_property_the_raw_put_request_is_the_reference_one(
    readings: list[Reading], received: int, uncalibrated: dict[str, Any] | None, ttl_days: int
) -> None:
    # Given a store of the default write path whose client records what it is sent
    sent: list[dict[str, Any]] = []
    markers: list[dict[str, Any]] = []

    class Recording:
        def put_item(self, **request: Any) -> dict[str, Any]:
            sent.append(request)
            return {}

        def update_item(self, **request: Any) -> dict[str, Any]:
            markers.append(request)
            return {}

    store = TelemetryStore(raw_ttl_s=ttl_days * 86400, ddb=Recording())
    firsts: dict[str, int] = {}
    for reading in readings:
        # When a reading newer than the device's state is stored (no dirty marker)
        store.store_raw(reading, None, reading.ts + received, uncalibrated, reading.ts)
        # Then (the device has no counter state) its `first` marker is written before the put when the reading
        # is older than any this store wrote for the device, and only then
        if reading.ts < firsts.get(reading.device_id, reading.ts + 1):
            firsts[reading.device_id] = reading.ts
            marker = markers.pop()
            assert marker["Key"]["pk"] == {"S": f"{reading.device_id}#first"}
            assert marker["ExpressionAttributeValues"] == {":ts": {"N": str(reading.ts)}}
        assert markers == []
        # Then the request is the one the reference store sent
        expected = reference_raw_put(
            reading, reading.ts + received, uncalibrated, table=store._write_tables[0], raw_ttl_s=store.raw_ttl_s
        )
        # but for its TTL: the end of the reading's UTC day plus the retention since 2026-12-03 (it was ts plus
        # the retention), the same for every item of a day partition
        expires_at = (reading.ts // 86_400_000 + 1) * 86_400 + ttl_days * 86_400
        assert ttl_days * 86_400 < expires_at - reading.ts // 1000 <= (ttl_days + 1) * 86_400
        expected["Item"]["expires_at"] = {"N": str(expires_at)}
        assert sent.pop() == expected


@given(ms=st.integers(-(10**13), 10**14))
def test_property_the_accepted_readings_time_is_the_clocks_iso_text(ms: int) -> None:
    assert iso_ms(ms) == to_iso(ms)


def test_ingest_calibrates_with_the_devices_current_calibration_without_dynamodb(
    monkeypatch: Any,
) -> None:
    from dataclasses import replace

    from gridshare.devices.service import DeviceRef
    from gridshare.kernel import clock
    from gridshare.telemetry.service import DEVICE_TTL_MS, IngestOutcome, TelemetryService

    T = NOW + 1_800_000  # mid-hour: no reading here is late (no dirty marker)

    # Given the default write path, a store whose client records puts, and a calibrated meter
    monkeypatch.setenv("GS_TELEMETRY_WRITE_PATH", "raw")
    puts: list[dict[str, Any]] = []

    class Client:
        def put_item(self, **request: Any) -> dict[str, Any]:
            puts.append(request["Item"])
            return {}

        def query(self, **request: Any) -> dict[str, Any]:
            return {"Items": []}

        def get_item(self, **request: Any) -> dict[str, Any]:
            return {}  # no `first` marker: a device without history

        def update_item(self, **request: Any) -> dict[str, Any]:
            return {}  # its `first` marker, written before its first put

    device = DeviceRef("dev-1", "owner-1", "meter-1", "meter", None, {"voltage_v": {"scale": 1.0, "offset": 2.0}})
    registry = {"meter-1": device}
    service = TelemetryService(
        store=TelemetryStore(ddb=Client()),
        validator=TelemetryValidator(),
        find_device=registry.get,
        seen=lambda device_id, at: None,
    )

    def send(ts: int, seq: int) -> Any:
        payload = json.dumps({"ts": ts, "seq": seq, "metrics": {"voltage_v": 230.5, "power_w": 10}}).encode()
        return service.process("meter-1", payload, ts + 10)

    with clock.frozen(T) as frozen:
        # When it sends a reading
        result = send(T - 1000, 1)
        # Then it is stored calibrated, with the raw value kept and the owner in the accepted reading
        assert result.outcome is IngestOutcome.STORED
        assert json.loads(puts[-1]["metrics"]["S"]) == {"power_w": 10, "voltage_v": 232.5}
        assert json.loads(puts[-1]["uncalibrated"]["S"]) == {"voltage_v": 230.5}
        assert result.accepted == {
            "deviceId": "dev-1",
            "ownerId": "owner-1",
            "deviceType": "meter",
            "siteId": None,
            "ts": to_iso(T - 1000),
            "metrics": {"power_w": 10, "voltage_v": 232.5},
        }
        # When the owner changes the calibration and the cached device expires
        registry["meter-1"] = replace(device, calibration={"voltage_v": {"scale": 1.0, "offset": -1.0}})
        frozen.set(T + DEVICE_TTL_MS)
        send(T + DEVICE_TTL_MS - 1000, 2)
        # Then the next reading is calibrated with the new factors
        assert json.loads(puts[-1]["metrics"]["S"])["voltage_v"] == 229.5
        # And a device that was not changed keeps its compiled plan across re-reads
        plan = service._devices["meter-1"].plan
        frozen.set(T + 2 * DEVICE_TTL_MS)
        send(T + 2 * DEVICE_TTL_MS - 1000, 3)
        assert service._devices["meter-1"].plan is plan
