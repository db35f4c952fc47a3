"""Speed of the market clearing (gridshare.market.clearing), one core, in-process.

    .venv/bin/python bench/bench_clearing.py                      # both cases, pay_as_clear and pay_as_bid
    .venv/bin/python bench/bench_clearing.py --orders 100000 --intervals 96 --per-interval 10000 --runs 15

Targets (issue 13): one interval of 100,000 bids + 100,000 asks in <= 30 ms with ``clear``, and 96
intervals x (10,000 bids + 10,000 asks) in <= 200 ms with ``clear_many``. Books are built up front (a
``Book`` validates its arrays when built: not timed); each case is timed ``--runs`` times after a warm-up
run and the median is reported, with the throughput in orders (bids + asks) per second. One core: the
clearing runs in this one thread (numpy's sorts, gathers and sums are single-threaded; BLAS helper
threads are off). Besides the wall clock, the median CPU time of the thread is printed: on a busy
machine the wall clock also counts the time spent waiting for a core.

The books: limit prices 5..60 minor units per kWh (bids centred above asks, so about half the volume
crosses and there are many ties), 50..5,000 Wh, ``seq`` a random permutation (rows in no particular
order), 10 % of the orders from parties in one of 20 communities, half of those community-only.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy: no helper threads (clearing uses none anyway)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "gridshare"))

from gridshare.market.clearing import Book, Fees, clear, clear_many  # noqa: E402 - run as a script

FEES = Fees(grid_fee_minor_per_kwh=6, community_fee_minor_per_kwh=2)
TARGET_ONE_MS = 30.0
TARGET_MANY_MS = 200.0


def book(rng: np.random.Generator, n: int, centre: float, in_seq_order: bool = False) -> Book:
    price = np.clip(np.rint(rng.normal(centre, 8.0, n)), 5, 60).astype(np.int64)
    energy = rng.integers(50, 5001, n, dtype=np.int64)
    seq = np.arange(n, dtype=np.int64) if in_seq_order else rng.permutation(n).astype(np.int64)
    community = np.where(rng.random(n) < 0.10, rng.integers(0, 20, n), -1).astype(np.int64)
    only = (community >= 0) & (rng.random(n) < 0.5)
    return Book(price, energy, seq, community, only)


def median_ms(run: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Median wall clock, best wall clock and median CPU time (this thread) of ``runs`` runs after a
    warm-up, in ms. On a busy machine the wall clock includes waiting for the core; the CPU time and the
    best run mostly do not."""
    run()  # warm-up
    wall, cpu = [], []
    gc.disable()
    try:
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.thread_time()
            run()
            cpu.append((time.thread_time() - c0) * 1000)
            wall.append((time.perf_counter() - t0) * 1000)
    finally:
        gc.enable()
    return statistics.median(wall), min(wall), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000, help="bids (and asks) of the one-interval case")
    parser.add_argument("--intervals", type=int, default=96)
    parser.add_argument("--per-interval", type=int, default=10_000, help="bids (and asks) per interval")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--in-seq-order", action="store_true", help="rows in acceptance (seq) order")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    ordered = args.in_seq_order
    one = (book(rng, args.orders, 27.0, ordered), book(rng, args.orders, 23.0, ordered))
    many = [
        (book(rng, args.per_interval, 27.0, ordered), book(rng, args.per_interval, 23.0, ordered))
        for _ in range(args.intervals)
    ]
    print(
        f"numpy {np.__version__}, Python {sys.version.split()[0]}, one core, median of {args.runs} runs, "
        f"rows {'in seq order' if ordered else 'in random order'}, load average {os.getloadavg()[0]:.1f}"
    )

    failed = False
    for mechanism in ("pay_as_clear", "pay_as_bid"):
        result = clear(*one, mechanism=mechanism, fees=FEES)
        ms, best, cpu = median_ms(lambda m=mechanism: clear(*one, mechanism=m, fees=FEES), args.runs)
        orders = 2 * args.orders
        print(
            f"{mechanism:12s} clear      1 x ({args.orders:,} + {args.orders:,}): {ms:7.2f} ms "
            f"(best {best:.2f}, CPU {cpu:.2f} ms; "
            f"{orders / ms * 1000:,.0f} orders/s; {result.energy_wh.shape[0]:,} trades, "
            f"{result.cleared_energy_wh / 1000:,.0f} kWh at {result.clearing_price}) target <= {TARGET_ONE_MS:.0f} ms"
        )
        failed |= mechanism == "pay_as_clear" and ms > TARGET_ONE_MS

        results = clear_many(many, mechanism=mechanism, fees=FEES)
        ms, best, cpu = median_ms(lambda m=mechanism: clear_many(many, mechanism=m, fees=FEES), args.runs)
        orders = 2 * args.per_interval * args.intervals
        trades = sum(r.energy_wh.shape[0] for r in results)
        print(
            f"{mechanism:12s} clear_many {args.intervals} x ({args.per_interval:,} + {args.per_interval:,}): "
            f"{ms:7.2f} ms (best {best:.2f}, CPU {cpu:.2f} ms; {orders / ms * 1000:,.0f} orders/s; {trades:,} trades) "
            f"target <= {TARGET_MANY_MS:.0f} ms"
        )
        failed |= mechanism == "pay_as_clear" and ms > TARGET_MANY_MS

        loop_ms, loop_best, loop_cpu = median_ms(
            lambda m=mechanism: [clear(b, a, mechanism=m, fees=FEES) for b, a in many], args.runs
        )
        print(
            f"{mechanism:12s} clear per interval, in a loop: {loop_ms:7.2f} ms "
            f"(best {loop_best:.2f}, CPU {loop_cpu:.2f} ms; for comparison)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
