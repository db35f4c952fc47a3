"""The ledger's hypothesis state machine, run long: >= 10,000 random steps against the naive model.

CI runs the machine for ~2,500 steps (tests/unit/test_ledger_domain.py); this runs the same machine
(top-ups, transfers, sales with revenue splits, withdrawals approved and rejected, refunds, reversals,
replays and conflicting replays, every invariant checked after every step) until at least ``--steps``
steps have run, and prints the count and the time.

    .venv/bin/python bench/bench_ledger_stateful.py --steps 10000

A step is one rule: one transaction built and posted (or refused as predicted), or one replay. The
initial funding of each run is set-up and not counted. A failure prints hypothesis's shrunk example
and exits non-zero, like the test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "gridshare"), str(ROOT / "tests" / "unit"), str(ROOT)]

from hypothesis import HealthCheck, settings  # noqa: E402 - paths first: run as a script
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402
from test_ledger_domain import LedgerMachine  # noqa: E402


class CountedMachine(LedgerMachine):
    runs = 0

    def __init__(self) -> None:
        super().__init__()
        type(self).runs += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="run until at least this many steps")
    parser.add_argument("--max-examples", type=int, default=200, help="hypothesis examples per round")
    parser.add_argument("--step-count", type=int, default=60, help="hypothesis stateful_step_count")
    args = parser.parse_args()
    config = settings(
        max_examples=args.max_examples,
        stateful_step_count=args.step_count,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    LedgerMachine.steps = 0
    rounds = 0
    started = time.perf_counter()
    while LedgerMachine.steps < args.steps:
        run_state_machine_as_test(CountedMachine, settings=config)
        rounds += 1
    elapsed = time.perf_counter() - started
    steps = LedgerMachine.steps
    print(
        f"ledger state machine: {steps:,} steps in {CountedMachine.runs:,} runs ({rounds} round(s) of "
        f"max_examples={args.max_examples}, stateful_step_count={args.step_count}), {elapsed:.1f} s, "
        f"{steps / elapsed:,.0f} steps/s; every invariant held after every step"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
