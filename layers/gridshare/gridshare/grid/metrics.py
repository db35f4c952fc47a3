"""Grid metrics from meter readings: node power, realtime aggregation, losses, CO2, history. Pure.

**A meter's injection** (kW, positive = into the grid) from its latest reading: ``-power_w / 1000`` when
it reports ``power_w`` (telemetry's sign: positive = import from the grid, i.e. a draw), else
``pv_power_w / 1000`` (a PV inverter's output), else none (the meter says nothing about power).

**A node's power**: its fresh meters' injections summed (``net``); ``generation`` is the sum of the
positive injections, ``load`` the sum of the negative ones (as a positive number). A reading is *fresh*
when it is at most ``STALE_MS`` (15 min) older than now (the kernel clock); stale ones are left out.

**Realtime** over every node of the grid:

- ``totalGenerationKw``: the generation of generator and storage nodes (storage discharging) plus any
  other node's export (a prosumer load exporting);
- ``totalLoadKw``: the load of every node (storage charging included);
- ``frequencyHz``, ``voltageV``: the mean over the fresh readings that report them;
- ``powerFactor``: the mean of ``|P| / (V * |I|)`` (clamped to [0, 1]) over the fresh readings that
  report ``power_w``, ``voltage_v`` and ``current_a`` with ``V * |I| > 0``; null when none do;
- ``lossesKw``: sum over connections with a flow and an impedance of ``I^2 * R`` with
  ``I = |flow_W| / V`` and ``V`` the nominal voltage of the connection's ``fromNodeId`` (a single-phase
  equivalent; a first-order estimate, not a load-flow);
- ``co2IntensityGPerKwh``: the supply is ``max(generation, load)``; the PV part of the generation
  (``pv_power_w`` meters) counts 0 g/kWh, every other kWh (fossil or unknown generation, and the import
  that covers load above generation) the configured grid intensity ``I``:
  ``I * (supply - pv) / supply``; null when the supply is 0;
- ``oldestReadingAt``: the timestamp of the oldest reading used.

**History** from rollups: ``generation`` and ``load`` are mean kW per bucket from the meters' counter
energy (``energy_export_wh`` is generation, ``energy_import_wh`` load: ``kW = Wh / hours``);
``frequency`` and ``voltage`` the mean over the meters' bucket sums and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gridshare.grid.topology import Edge, Flow, Node

__all__ = [
    "HISTORY_METRICS",
    "HISTORY_UNITS",
    "STALE_MS",
    "Bucket",
    "HistoryMetric",
    "NodePower",
    "Realtime",
    "Reading",
    "history_points",
    "injection_kw",
    "losses_kw",
    "node_power",
    "realtime",
]

STALE_MS = 15 * 60_000
GENERATING_TYPES = frozenset({"generator", "storage"})
HistoryMetric = Literal["generation", "load", "frequency", "voltage"]
HISTORY_METRICS: tuple[HistoryMetric, ...] = ("generation", "load", "frequency", "voltage")
HISTORY_UNITS: dict[str, str] = {"generation": "kW", "load": "kW", "frequency": "Hz", "voltage": "V"}


@dataclass(frozen=True)
class Reading:
    """A meter's latest reading: its timestamp (epoch ms) and metrics."""

    device_id: str
    ts: int
    metrics: Mapping[str, float | int | bool]


@dataclass(frozen=True)
class NodePower:
    net_kw: float | None  # None: no fresh reading that tells power
    generation_kw: float
    load_kw: float
    pv_kw: float
    readings: tuple[Reading, ...]  # the fresh readings used


def _number(metrics: Mapping[str, float | int | bool], name: str) -> float | None:
    value = metrics.get(name)
    if value is None or isinstance(value, bool):
        return None
    return float(value)


def injection_kw(metrics: Mapping[str, float | int | bool]) -> float | None:
    power = _number(metrics, "power_w")
    if power is not None:
        return -power / 1000
    pv = _number(metrics, "pv_power_w")
    return pv / 1000 if pv is not None else None


def fresh(readings: Iterable[Reading], now: int) -> list[Reading]:
    return [r for r in readings if now - r.ts <= STALE_MS]


def node_power(readings: Iterable[Reading], now: int) -> NodePower:
    used = fresh(readings, now)
    generation = load = pv = 0.0
    any_power = False
    for reading in used:
        kw = injection_kw(reading.metrics)
        if kw is None:
            continue
        any_power = True
        if kw > 0:
            generation += kw
            if _number(reading.metrics, "power_w") is None:
                pv += kw
        else:
            load -= kw
    net = generation - load if any_power else None
    return NodePower(net_kw=net, generation_kw=generation, load_kw=load, pv_kw=pv, readings=tuple(used))


def losses_kw(edges: Sequence[Edge], flows: Mapping[str, Flow], voltage_v: Mapping[str, float]) -> float:
    """sum over edges of I^2 R, I = |flow_W| / V(from node), in kW."""
    total_w = 0.0
    for edge in edges:
        flow = flows.get(edge.id)
        volts = voltage_v.get(edge.from_id, 0.0)
        if flow is None or flow.kw is None or volts <= 0 or edge.impedance_ohm <= 0:
            continue
        current = abs(flow.kw) * 1000 / volts
        total_w += current * current * edge.impedance_ohm
    return total_w / 1000


@dataclass(frozen=True)
class Realtime:
    total_generation_kw: float
    total_load_kw: float
    frequency_hz: float | None
    voltage_v: float | None
    power_factor: float | None
    losses_kw: float
    co2_intensity_g_per_kwh: float | None
    oldest_reading_at: int | None
    meters_reporting: int
    nodes_reporting: int


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _power_factor(metrics: Mapping[str, float | int | bool]) -> float | None:
    power, volts, amps = (_number(metrics, n) for n in ("power_w", "voltage_v", "current_a"))
    if power is None or volts is None or amps is None or volts * abs(amps) <= 0:
        return None
    return min(1.0, abs(power) / (volts * abs(amps)))


def realtime(
    nodes: Sequence[Node],
    powers: Mapping[str, NodePower],
    edges: Sequence[Edge],
    flows: Mapping[str, Flow],
    nominal_voltage_v: Mapping[str, float],
    grid_intensity_g_per_kwh: float,
) -> Realtime:
    generation = load = pv = 0.0
    frequencies: list[float] = []
    voltages: list[float] = []
    factors: list[float] = []
    oldest: int | None = None
    meters = reporting = 0
    for node in nodes:
        power = powers.get(node.id)
        if power is None:
            continue
        if power.net_kw is not None:
            reporting += 1
        generation += power.generation_kw
        pv += power.pv_kw
        load += power.load_kw
        for reading in power.readings:
            meters += 1
            oldest = reading.ts if oldest is None else min(oldest, reading.ts)
            if (hz := _number(reading.metrics, "frequency_hz")) is not None:
                frequencies.append(hz)
            if (volts := _number(reading.metrics, "voltage_v")) is not None:
                voltages.append(volts)
            if (factor := _power_factor(reading.metrics)) is not None:
                factors.append(factor)
    supply = max(generation, load)
    intensity = grid_intensity_g_per_kwh * (supply - pv) / supply if supply > 0 else None
    return Realtime(
        total_generation_kw=round(generation, 6),
        total_load_kw=round(load, 6),
        frequency_hz=_mean(frequencies),
        voltage_v=_mean(voltages),
        power_factor=_mean(factors),
        losses_kw=round(losses_kw(edges, flows, nominal_voltage_v), 6),
        co2_intensity_g_per_kwh=intensity,
        oldest_reading_at=oldest,
        meters_reporting=meters,
        nodes_reporting=reporting,
    )


@dataclass(frozen=True)
class Bucket:
    """One meter's rollup bucket: start (epoch ms), gauge sums and counts, counter energy (Wh)."""

    start: int
    sums: Mapping[str, float]
    counts: Mapping[str, int]
    energy: Mapping[str, int]


GAUGE = {"frequency": "frequency_hz", "voltage": "voltage_v"}
COUNTER = {"generation": "energy_export_wh", "load": "energy_import_wh"}


def history_points(metric: HistoryMetric, buckets: Iterable[Bucket], bucket_ms: int) -> list[tuple[int, float, int]]:
    """(bucket start, value, meters contributing) per bucket any meter reported the metric, oldest first."""
    value: dict[int, float] = {}
    weight: dict[int, int] = {}
    meters: dict[int, int] = {}
    for bucket in buckets:
        if metric in COUNTER:
            wh = bucket.energy.get(COUNTER[metric])
            if wh is None:
                continue
            value[bucket.start] = value.get(bucket.start, 0.0) + max(0, wh)
            weight[bucket.start] = 1
        else:
            name = GAUGE[metric]
            count = bucket.counts.get(name, 0)
            if count <= 0 or name not in bucket.sums:
                continue
            value[bucket.start] = value.get(bucket.start, 0.0) + bucket.sums[name]
            weight[bucket.start] = weight.get(bucket.start, 0) + count
        meters[bucket.start] = meters.get(bucket.start, 0) + 1
    hours = bucket_ms / 3_600_000
    out: list[tuple[int, float, int]] = []
    for start in sorted(value):
        if metric in COUNTER:
            out.append((start, round(value[start] / 1000 / hours, 6), meters[start]))
        else:
            out.append((start, value[start] / weight[start], meters[start]))
    return out
