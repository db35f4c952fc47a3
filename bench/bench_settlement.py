"""Throughput of the vectorised settlement core on one core: rollup items -> site energy -> delivery.

Per meter-interval (one telemetry rollup item: a device's 15-minute bucket), timed together: decoding the
item from the dict the table returns (``pk``, ``bucket``, ``e_energy_export_wh``, ``e_energy_import_wh``,
as ``RollupModel`` stores them), summing each site's meters by role into its export and import per interval
(``settlement.metering.site_energy``, the rules of ``sites.energy.figures``), and delivering every trade of
every interval up to its seller's net export (``settlement.metering.deliver``). The items are built up
front (a fleet of sites with a grid meter, a production meter and, on every third site, a battery;
one trade per site per interval, many of them short), so only settlement's work is timed. Items are
allocated in the order they are decoded (one Query per meter, as a shard reads them and as a response is
deserialised); shuffling them after creation would measure cache misses on a memory layout no reader
produces.

    .venv/bin/python bench/bench_settlement.py --sites 20000 --intervals 24

The figure is items per second of this process's CPU time (``time.process_time``: single-threaded numpy,
so per core, whatever else runs on the machine); wall-clock time is printed beside it.
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

import numpy as np  # noqa: E402

from gridshare.settlement.metering import MeterTable, decode_rollups, deliver, site_energy  # noqa: E402

START = 1_796_292_000_000
Q = 900_000


def fleet(sites: int, intervals: int, seed: int = 7) -> tuple[MeterTable, list[dict[str, int | str]], list[int]]:
    rng = random.Random(seed)
    meters: list[tuple[str, str, str]] = []
    for s in range(sites):
        meters.append((f"gm-{s:07d}", f"site-{s:07d}", "grid_meter"))
        meters.append((f"pv-{s:07d}", f"site-{s:07d}", "production"))
        if s % 3 == 0:
            meters.append((f"bt-{s:07d}", f"site-{s:07d}", "storage"))
    table = MeterTable.build(meters)
    items: list[dict[str, int | str]] = []
    for device, _site, role in meters:  # in the order a shard reads them: one query per meter
        for k in range(intervals):
            bucket = START + k * Q
            item: dict[str, int | str] = {"pk": f"{device}#15m", "bucket": bucket, "n": 15}
            item["e_energy_export_wh"] = rng.randrange(0, 1500)
            item["e_energy_import_wh"] = rng.randrange(0, 900) if role != "production" else rng.randrange(0, 5)
            items.append(item)
    sold = [rng.randrange(1, 1200) for _ in range(sites)]
    return table, items, sold


def run(table: MeterTable, items: list[dict[str, int | str]], sold: list[int], intervals: int) -> int:
    energy = site_energy(decode_rollups(items, table), table, start=START, intervals=intervals)
    net = energy.net_export
    seller = np.arange(len(sold), dtype=np.int64)
    wh = np.array(sold, dtype=np.int64)
    delivered = 0
    for k in range(intervals):
        delivered += int(deliver(np.ascontiguousarray(net[:, k]), seller, wh).sum())
    return delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=20_000)
    parser.add_argument("--intervals", type=int, default=24)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    table, items, sold = fleet(args.sites, args.intervals)
    print(
        f"{len(items):,} meter-intervals ({len(table.site.tolist()):,} meters, {args.sites:,} sites, "
        f"{args.intervals} intervals)"
    )
    best_cpu = best_wall = float("inf")
    for _ in range(args.passes):
        gc.collect()
        gc.disable()
        cpu, wall = time.process_time(), time.perf_counter()
        delivered = run(table, items, sold, args.intervals)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        gc.enable()
        best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
    print(f"delivered {delivered:,} Wh")
    print(f"cpu  {best_cpu:.3f} s: {len(items) / best_cpu:,.0f} meter-intervals/s per core")
    print(f"wall {best_wall:.3f} s: {len(items) / best_wall:,.0f} meter-intervals/s")


if __name__ == "__main__":
    main()
