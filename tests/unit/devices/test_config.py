"""Device configuration (gridshare.devices.config): validation per device type, and the shadow update that
replaces the desired state."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.devices import config
from gridshare.devices.service import DEVICE_TYPES
from gridshare.kernel import errors
from gridshare.telemetry.readings import METRICS


def _fields(device_type: str, body: dict[str, Any]) -> list[str]:
    with pytest.raises(errors.InvalidInput) as raised:
        config.validate_config(device_type, body)
    return [e.field for e in raised.value.errors]


def test_every_type_has_metrics_of_the_schema_that_can_be_calibrated() -> None:
    assert set(config.TYPE_METRICS) == set(DEVICE_TYPES)
    for metrics in config.TYPE_METRICS.values():
        assert metrics and all(METRICS[m].kind in ("gauge", "counter") for m in metrics)


def test_a_valid_configuration_is_normalised() -> None:
    body = {"reportIntervalS": 60, "calibration": {"voltage_v": {"offset": 1.5}}, "tankCapacityKg": None}
    assert config.validate_config("meter", body) == {
        "reportIntervalS": 60,
        "calibration": {"voltage_v": {"offset": 1.5, "scale": 1}},
    }


@pytest.mark.parametrize(
    ("device_type", "body", "expected"),
    [
        ("meter", {"calibration": {"gas_level_pct": {"offset": 1}}}, ["calibration.gas_level_pct"]),
        ("meter", {"calibration": {"power_w": {"scale": 0}}}, ["calibration.power_w.scale"]),
        ("meter", {"calibration": {"power_w": {"offset": float("nan")}}}, ["calibration.power_w.offset"]),
        ("meter", {"calibration": {"power_w": {"gain": 2}}}, ["calibration.power_w.gain"]),
        ("meter", {"calibration": {"power_w": 2}}, ["calibration.power_w"]),
        ("meter", {"calibration": []}, ["calibration"]),
        ("meter", {"reportIntervalS": 4}, ["reportIntervalS"]),
        ("meter", {"reportIntervalS": True}, ["reportIntervalS"]),
        ("meter", {"lowLevelPct": 10, "tankCapacityKg": 5}, ["lowLevelPct", "tankCapacityKg"]),
        ("gas_sensor", {"tankCapacityKg": 0}, ["tankCapacityKg"]),
        ("battery", {"firmwareVersion": "1.0"}, ["firmwareVersion"]),
    ],
)
def test_each_refusal_names_its_field(device_type: str, body: dict[str, Any], expected: list[str]) -> None:
    assert _fields(device_type, body) == expected


def test_identity_calibrations_are_not_applied() -> None:
    valid = config.validate_config("meter", {"calibration": {"power_w": {}, "voltage_v": {"scale": 2}}})
    assert config.calibration_of(valid) == {"voltage_v": {"offset": 0, "scale": 2}}


def _merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """IoT's merge of a desired update: nested objects merged by field, null removes."""
    out = dict(current)
    for name, value in update.items():
        if value is None:
            out.pop(name, None)
        elif isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = _merge(out[name], value)
        else:
            out[name] = value
    return {k: v for k, v in out.items() if v != {}}


factors = st.fixed_dictionaries({"offset": st.integers(-5, 5), "scale": st.integers(1, 3)})
configs = st.fixed_dictionaries(
    {},
    optional={
        "reportIntervalS": st.integers(5, 100),
        "calibration": st.dictionaries(st.sampled_from(config.TYPE_METRICS["meter"]), factors, min_size=1),
    },
)


@given(current=configs, wanted=configs)
def test_the_update_turns_any_desired_state_into_the_wanted_one_and_is_idempotent(
    current: dict[str, Any], wanted: dict[str, Any]
) -> None:
    update = config.desired_update(current, wanted)
    assert _merge(current, update) == wanted
    assert config.desired_update(wanted, wanted) == {}


@given(desired=configs, reported=configs)
def test_the_delta_is_empty_exactly_when_reported_shows_everything_desired(
    desired: dict[str, Any], reported: dict[str, Any]
) -> None:
    delta = config.delta_of(desired, reported)
    assert (delta == {}) == (_merge(reported, desired) == reported)
