"""Alert evaluations per second on a batch of readings, pure (gridshare.alerts.evaluation): no moto, no
network: the CPU floor of the evaluator per (rule, reading).

Per reading and rule: the value the rule watches (observed_value), the condition (breached) and one step of
the hold-down (step), folded per (rule, device) as the evaluator folds an event's readings (fold). The
readings are generated up front as ReadingsAccepted carries them (100 devices: meters with a threshold rule
on power_w held 60 s and an offline rule, gas sensors with their leak rule and a low_level rule), ~2 %
breaching, so only evaluation is timed.

    .venv/bin/python bench/bench_alert_evaluator.py --n 200000
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "gridshare"))

from gridshare.alerts.evaluation import (  # noqa: E402 - the layer is not installed when run as a script
    READING_KINDS,
    Hold,
    RuleSpec,
    Value,
    breached,
    fold,
    observed_value,
)

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
METER_RULES = (RuleSpec("threshold", "power_w", ">", 9000.0, for_s=60), RuleSpec("offline"))
GAS_RULES = (RuleSpec("leak"), RuleSpec("low_level", "gas_level_pct", "<", 15.0))


def generate(n: int, devices: int, seed: int) -> list[tuple[int, str, int, dict[str, Value]]]:
    """(device index, type, ts, metrics) in arrival order, one reading a minute per device."""
    rng = random.Random(seed)
    types = ["gas_sensor" if i % 5 == 4 else "meter" for i in range(devices)]
    readings = []
    for i in range(n):
        device = i % devices
        ts = START_MS + (i // devices) * 60_000
        metrics: dict[str, Value]
        if types[device] == "meter":
            metrics = {"power_w": rng.uniform(-3000, 9500), "voltage_v": 230.0}
        else:
            metrics = {"gas_level_pct": rng.uniform(10, 90), "leak": rng.random() < 0.01}
        readings.append((device, types[device], ts, metrics))
    return readings


def run(readings: list[tuple[int, str, int, dict[str, Value]]], batch: int) -> tuple[int, int, float]:
    """Evaluate in batches as the evaluator does (per event: per device, per rule, fold the observations)."""
    holds: dict[tuple[int, int], Hold] = {}
    evaluations = actions = 0
    started = time.perf_counter()
    for start in range(0, len(readings), batch):
        by_device: dict[int, list[tuple[int, str, int, dict[str, Value]]]] = {}
        for reading in readings[start : start + batch]:
            by_device.setdefault(reading[0], []).append(reading)
        for device, rows in by_device.items():
            rules = GAS_RULES if rows[0][1] == "gas_sensor" else METER_RULES
            for r, rule in enumerate(rules):
                if rule.kind not in READING_KINDS:
                    continue
                observations: list[tuple[int, bool, Value | None]] = []
                for _, _, ts, metrics in rows:
                    value = observed_value(rule, metrics)
                    if value is not None:
                        observations.append((ts, breached(rule, value), value))
                evaluations += len(observations)
                hold, events = fold(rule, holds.get((device, r), Hold()), observations)
                holds[(device, r)] = hold
                actions += len(events)
    return evaluations, actions, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="readings")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100, help="readings per ReadingsAccepted event")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    readings = generate(args.n, args.devices, seed=7)
    best = None
    for _ in range(args.passes):
        gc.collect()
        result = run(readings, args.batch)
        if best is None or result[2] < best[2]:
            best = result
    assert best is not None
    evaluations, actions, seconds = best
    print(
        f"alert evaluator (pure): {evaluations / seconds:,.0f} evaluations/s "
        f"({evaluations:,} rule x reading evaluations of {args.n:,} readings in {seconds:.2f} s, "
        f"{actions:,} open/repeat/resolve actions; best of {args.passes})"
    )


if __name__ == "__main__":
    main()
