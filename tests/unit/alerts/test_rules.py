"""Validation of alert rules per kind: a problem names the request's field."""

from __future__ import annotations

from typing import Any

import pytest

from gridshare.alerts.rules import Target, default_kinds, default_rule, default_rule_id, validate_rule
from gridshare.devices.config import TYPE_METRICS

GAS = Target("gas_sensor")
METER = Target("meter")


def _fields(problems: list[Any]) -> list[str]:
    return sorted(p.field for p in problems)


def _check(fields: dict[str, Any], target: Target = METER) -> tuple[dict[str, Any], list[str]]:
    out, problems = validate_rule({"name": "r", **fields}, target, TYPE_METRICS)
    return out, _fields(problems)


def test_a_threshold_rule_needs_metric_operator_threshold() -> None:
    assert _check({"kind": "threshold"})[1] == ["metric", "operator", "threshold"]
    out, problems = _check({"kind": "threshold", "metric": "power_w", "operator": ">", "threshold": 10})
    assert problems == [] and out["severity"] == "warning" and out["channels"] == ["push", "email", "sms", "websocket"]


def test_a_threshold_metric_must_be_one_the_device_type_reports() -> None:
    assert _check({"kind": "threshold", "metric": "gas_level_pct", "operator": "<", "threshold": 1})[1] == ["metric"]
    assert _check({"kind": "threshold", "metric": "gas_level_pct", "operator": "<", "threshold": 1}, GAS)[1] == []
    # a site rule: a metric some device type reports
    assert _check({"kind": "threshold", "metric": "soc_pct", "operator": "<", "threshold": 1}, Target(None))[1] == []
    assert _check({"kind": "threshold", "metric": "nope", "operator": "<", "threshold": 1}, Target(None))[1] == [
        "metric"
    ]


@pytest.mark.parametrize("field", ["metric", "operator", "threshold"])
def test_leak_and_offline_take_no_metric_operator_or_threshold(field: str) -> None:
    value = {"metric": "leak", "operator": ">", "threshold": 1}[field]
    assert _check({"kind": "leak", field: value}, GAS)[1] == [field]
    assert _check({"kind": "offline", field: value})[1] == [field]


def test_leak_and_low_level_are_for_gas_sensors() -> None:
    assert _check({"kind": "leak"}, METER)[1] == ["deviceId"]
    assert _check({"kind": "leak"}, GAS)[0]["severity"] == "critical"
    out, problems = _check({"kind": "low_level", "threshold": 15}, GAS)
    assert problems == [] and out["metric"] == "gas_level_pct" and out["operator"] == "<"
    assert _check({"kind": "low_level", "threshold": 15}, METER)[1] == ["deviceId"]
    assert _check({"kind": "low_level", "threshold": 150, "operator": ">"}, GAS)[1] == ["operator", "threshold"]
    assert _check({"kind": "low_level"}, GAS)[1] == ["threshold"]


def test_offline_has_no_hold_down_of_its_own_and_for_s_is_bounded() -> None:
    assert _check({"kind": "offline", "for_s": 60})[1] == ["forS"]
    assert _check({"kind": "leak", "for_s": -1}, GAS)[1] == ["forS"]
    assert _check({"kind": "leak", "for_s": 86_401}, GAS)[1] == ["forS"]


def test_channels_are_a_non_empty_subset_in_a_fixed_order() -> None:
    assert _check({"kind": "offline", "channels": []})[1] == ["channels"]
    assert _check({"kind": "offline", "channels": ["fax"]})[1] == ["channels"]
    assert _check({"kind": "offline", "channels": ["sms", "email", "sms"]})[0]["channels"] == ["email", "sms"]


def test_baseline_kinds_watch_one_devices_energy_with_k_as_threshold() -> None:
    out, problems = _check({"kind": "generation_drop"})
    assert problems == [] and out["metric"] == "energy_export_wh" and out["threshold"] == 3.0
    out, problems = _check({"kind": "consumption_spike", "threshold": 2})
    assert problems == [] and out["metric"] == "energy_import_wh" and out["threshold"] == 2
    assert _check({"kind": "generation_drop"}, GAS)[1] == ["deviceId"]  # reports no energy counter
    assert _check({"kind": "generation_drop"}, Target(None))[1] == ["siteId"]
    assert _check({"kind": "generation_drop", "operator": "<", "threshold": 50})[1] == ["operator", "threshold"]
    assert _check({"kind": "consumption_spike", "metric": "power_w", "for_s": 60})[1] == ["forS", "metric"]
    assert _check({"kind": "nope"})[1] == ["kind"]


def test_default_rules() -> None:
    assert default_kinds("gas_sensor") == ("leak", "offline") and default_kinds("meter") == ("offline",)
    leak = default_rule("leak", "D1", "gas_sensor")
    assert leak["id"] == default_rule_id("leak", "D1") == "leak-D1"
    assert leak["severity"] == "critical" and leak["default_of"] == "leak"
    assert default_rule("offline", "D1", "meter")["severity"] == "warning"
