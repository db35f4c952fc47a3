"""Grid metrics (gridshare.grid.metrics): node power, realtime aggregation, losses, CO2, history."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.grid.metrics import (
    STALE_MS,
    Bucket,
    Reading,
    history_points,
    injection_kw,
    losses_kw,
    node_power,
    realtime,
)
from gridshare.grid.topology import Edge, Flow, Node

NOW = 1_780_000_000_000


def test_injection_follows_telemetry_signs() -> None:
    assert injection_kw({"power_w": 2000}) == -2.0  # importing from the grid: a draw
    assert injection_kw({"power_w": -1500}) == 1.5  # exporting: an injection
    assert injection_kw({"pv_power_w": 3000}) == 3.0
    assert injection_kw({"voltage_v": 230}) is None


def test_stale_readings_are_left_out() -> None:
    fresh = Reading("m1", NOW - 60_000, {"power_w": -1000})
    stale = Reading("m2", NOW - STALE_MS - 1, {"power_w": 5000})
    power = node_power([fresh, stale], NOW)
    assert (power.net_kw, power.generation_kw, power.load_kw) == (1.0, 1.0, 0.0)
    assert node_power([stale], NOW).net_kw is None


def test_losses_are_i_squared_r() -> None:
    edges = [Edge("e", "a", "b", 100, 0.5), Edge("c", "b", "x", 100, 1.0)]
    flows = {"e": Flow(23.0, "estimated"), "c": Flow(None, "in_cycle")}
    # I = 23 kW / 230 V = 100 A; I^2 R = 10000 * 0.5 = 5000 W = 5 kW
    assert losses_kw(edges, flows, {"a": 230.0, "b": 230.0}) == pytest.approx(5.0)


def test_realtime_aggregates_the_fresh_readings() -> None:
    nodes = [Node("g", "generator", 100), Node("p", "generator", 100), Node("l", "load", 100)]
    powers = {
        "g": node_power([Reading("m1", NOW - 1000, {"power_w": -10_000, "frequency_hz": 50.0})], NOW),
        "p": node_power([Reading("m2", NOW - 2000, {"pv_power_w": 10_000})], NOW),
        "l": node_power(
            [Reading("m3", NOW - 3000, {"power_w": 20_000, "voltage_v": 230, "current_a": 100, "frequency_hz": 50.2})],
            NOW,
        ),
    }
    result = realtime(nodes, powers, [], {}, {}, 400.0)
    assert (result.total_generation_kw, result.total_load_kw) == (20.0, 20.0)
    assert result.frequency_hz == pytest.approx(50.1)
    assert result.voltage_v == 230
    assert result.power_factor == pytest.approx(20_000 / 23_000)
    assert result.co2_intensity_g_per_kwh == pytest.approx(200.0)  # half the supply is PV
    assert result.oldest_reading_at == NOW - 3000
    assert (result.meters_reporting, result.nodes_reporting) == (3, 3)


def test_nothing_reported() -> None:
    result = realtime([Node("g", "generator", 1)], {}, [], {}, {}, 400.0)
    assert result.co2_intensity_g_per_kwh is None and result.oldest_reading_at is None
    assert result.frequency_hz is None and result.total_load_kw == 0


def test_history_sums_energy_and_averages_gauges() -> None:
    buckets = [
        Bucket(0, {"frequency_hz": 100.0}, {"frequency_hz": 2}, {"energy_export_wh": 500}),
        Bucket(0, {"frequency_hz": 50.5}, {"frequency_hz": 1}, {"energy_export_wh": 250}),
        Bucket(900_000, {}, {}, {"energy_import_wh": 100}),
    ]
    assert history_points("generation", buckets, 900_000) == [(0, 3.0, 2)]  # 750 Wh in 15 min = 3 kW
    assert history_points("load", buckets, 900_000) == [(900_000, 0.4, 1)]
    assert history_points("frequency", buckets, 900_000) == [(0, pytest.approx(150.5 / 3), 2)]


@given(st.lists(st.floats(min_value=-100_000, max_value=100_000, allow_nan=False), max_size=20))
def test_generation_minus_load_is_the_net(powers: list[float]) -> None:
    readings = [Reading(f"m{i}", NOW, {"power_w": p}) for i, p in enumerate(powers)]
    power = node_power(readings, NOW)
    if powers:
        assert power.net_kw == pytest.approx(-sum(powers) / 1000, abs=1e-6)
    assert power.generation_kw >= 0 and power.load_kw >= 0
