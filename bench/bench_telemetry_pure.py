"""Throughput of the pure telemetry domain: validate + rollup_deltas + counter_state, in process.

This is the CPU floor of the ingest function per reading, before any DynamoDB write: if it is not far
above the fleet's message rate, batching and concurrency cannot save the ingest path.

    .venv/bin/python bench/bench_telemetry_pure.py --n 200000

Messages are generated up front as the bytes JSON a device publishes (100 devices, one reading a
minute each, meters/batteries/LPG sensors, ~1 % faulty), so only the domain work is timed.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "gridshare"))

from gridshare.telemetry.readings import (  # noqa: E402 - the layer is not installed when run as a script
    CounterState,
    TelemetryValidator,
    counter_state,
    rollup_deltas,
)

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
INTERVAL_MS = 60_000


def generate(n: int, devices: int, invalid_rate: float, seed: int) -> list[tuple[str, bytes, int]]:
    """(device id, payload bytes, receive time) in arrival order; counters grow like real meters."""
    rng = random.Random(seed)
    kinds = ["meter", "meter", "meter", "battery", "lpg"]
    fleet = [(f"{kinds[i % len(kinds)]}-{i:04d}", kinds[i % len(kinds)]) for i in range(devices)]
    imports = [rng.randrange(10**5, 10**8) for _ in fleet]
    exports = [rng.randrange(0, 10**7) for _ in fleet]
    out: list[tuple[str, bytes, int]] = []
    for i in range(n):
        d = i % devices
        device_id, kind = fleet[d]
        ts = START_MS + (i // devices) * INTERVAL_MS + rng.randrange(0, 2000)
        if kind == "lpg":
            metrics: dict[str, object] = {
                "gas_level_pct": round(rng.uniform(5, 95), 1),
                "leak": rng.random() < 0.001,
                "temperature_c": round(rng.uniform(-5, 35), 1),
            }
        else:
            power = rng.uniform(-6000, 9000)
            imports[d] += max(0, round(power / 60))
            exports[d] += max(0, round(-power / 60))
            metrics = {
                "power_w": round(power, 1),
                "voltage_v": round(rng.gauss(230, 3), 1),
                "current_a": round(power / 230, 2),
                "frequency_hz": round(rng.gauss(50, 0.02), 3),
                "energy_import_wh": imports[d],
                "energy_export_wh": exports[d],
            }
            if kind == "battery":
                metrics["soc_pct"] = round(rng.uniform(10, 100), 1)
            else:
                metrics["pv_power_w"] = round(max(0.0, rng.uniform(-2000, 5000)), 1)
        if rng.random() < invalid_rate:
            metrics[rng.choice(["voltage_v", "temperature_c", "frequency_hz"])] = 9999
        doc = {"v": 1, "ts": ts, "seq": i // devices, "metrics": metrics}
        out.append((device_id, json.dumps(doc, separators=(",", ":")).encode(), ts + rng.randrange(50, 1500)))
    return out


def run(messages: list[tuple[str, bytes, int]]) -> tuple[int, int, int]:
    """Validate, roll up and advance state for each message; returns (accepted, rejected, rollup entries)."""
    validator = TelemetryValidator()
    states: dict[str, CounterState] = {}
    accepted = rejected = entries = 0
    for device_id, payload, now_ms in messages:
        previous = states.get(device_id)
        result = validator.validate(payload, device_id=device_id, now_ms=now_ms, previous=previous)
        reading = result.reading
        if reading is None:
            rejected += 1
            continue
        accepted += 1
        entries += len(rollup_deltas(reading, previous))
        states[device_id] = counter_state(reading, previous)
    return accepted, rejected, entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="readings to process (default 200000)")
    parser.add_argument("--devices", type=int, default=100, help="devices in the fleet (default 100)")
    parser.add_argument("--invalid-rate", type=float, default=0.01, help="share of faulty messages")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    messages = generate(args.n, args.devices, args.invalid_rate, args.seed)
    # A Lambda holds one SQS batch, not 200k messages: keep the pre-generated input out of the
    # garbage collector's scans so the figure measures the domain, not the size of the test data.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    accepted, rejected, entries = run(messages)
    elapsed = time.perf_counter() - started
    rate = args.n / elapsed
    print(f"pure validation+rollup: {args.n} readings in {elapsed:.2f} s = {rate:.0f} readings/s")
    python = sys.version.split()[0]
    print(f"  ({accepted} accepted, {rejected} rejected, {entries} rollup entries; python {python})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
