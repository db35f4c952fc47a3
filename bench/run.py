"""Runs every benchmark once, in one process tree, and prints the figures (see bench/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ["bench_telemetry_pure.py", "--n", "100000"],
    ["bench_cold_start.py", "--runs", "7"],
    ["bench_write_units.py"],
    ["bench_stack_ingest.py", "--devices", "10", "--readings", "50"],
    ["bench_ledger_stateful.py", "--steps", "10000"],
    ["bench_clearing.py", "--runs", "15"],
    ["bench_alert_evaluator.py", "--n", "200000"],
    ["bench_retention.py"],
]

if __name__ == "__main__":
    status = 0
    for script, *args in RUNS:
        print(f"$ python bench/{script} {' '.join(args)}", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / script), *args])
    sys.exit(status)
