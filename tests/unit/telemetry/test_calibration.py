"""Calibration at ingest (gridshare.telemetry.calibration)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from gridshare.telemetry.calibration import calibrate_metrics, calibrate_payload

COUNTERS = ("energy_import_wh",)


def test_gauges_are_scaled_and_offset_and_counters_stay_integers() -> None:
    calibration = {"voltage_v": {"offset": 2.0, "scale": 1.0}, "energy_import_wh": {"offset": 0, "scale": 1.1}}
    metrics, raw = calibrate_metrics(
        {"voltage_v": 230.0, "energy_import_wh": 1001, "power_w": 5}, calibration, COUNTERS
    )
    assert metrics == {"voltage_v": 232.0, "energy_import_wh": 1101, "power_w": 5}
    assert raw == {"voltage_v": 230.0, "energy_import_wh": 1001}


def test_values_that_are_not_numbers_are_left_for_validation() -> None:
    calibration = {"voltage_v": {"offset": 1, "scale": 1}, "power_w": {"offset": 1, "scale": 1}}
    assert calibrate_metrics({"voltage_v": "high", "power_w": True}, calibration, COUNTERS) == (
        {"voltage_v": "high", "power_w": True},
        {},
    )


def test_an_uncalibrated_device_keeps_the_payload_bytes() -> None:
    payload = b'{"ts": 1, "seq": 1, "metrics": {"power_w": 1}}'
    assert calibrate_payload(payload, {}, COUNTERS) == (payload, {})
    assert calibrate_payload(b"not json", {"power_w": {"offset": 1, "scale": 1}}, COUNTERS) == (b"not json", {})


@given(
    value=st.integers(0, 10**9),
    offset=st.integers(-1000, 1000),
    scale=st.floats(0.5, 2.0),
)
def test_a_calibrated_reading_keeps_the_raw_value_and_counters_are_whole_wh(
    value: int, offset: int, scale: float
) -> None:
    payload = json.dumps({"ts": 1, "seq": 1, "metrics": {"energy_import_wh": value}}).encode()
    calibration = {"energy_import_wh": {"offset": offset, "scale": scale}}
    message, raw = calibrate_payload(payload, calibration, COUNTERS)
    if isinstance(message, bytes):  # nothing changed
        assert raw == {} and round(value * scale + offset) == value
    else:
        calibrated = message["metrics"]["energy_import_wh"]
        assert isinstance(calibrated, int) and calibrated == round(value * scale + offset)
        assert raw == {"energy_import_wh": value}
