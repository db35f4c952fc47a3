"""Throughput of the whole local stack: device (awsiotsdk, mutual TLS) -> Mosquitto -> rule bridge ->
SQS (moto) -> ingest handler -> DynamoDB (moto), until every reading is readable through the API.

    .venv/bin/python bench/bench_stack_ingest.py --devices 10 --readings 50

The clock starts at the first publish and stops when the API reports the last sequence number of every
device, so the figure is end-to-end readings per second on this machine, with moto as the database (it
says more about the local stack than about AWS, where ingest scales out with Lambda concurrency).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--readings", type=int, default=50, help="readings per device")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

    from gridshare_local.api_client import verified_session
    from gridshare_local.device_client import DeviceConnection
    from gridshare_local.simulator import SimulatedDevice
    from gridshare_local.stack import LocalStack

    state = Path(tempfile.mkdtemp(prefix="gridshare-bench-"))
    os.environ["GS_STATE_DIR"] = str(state)
    stack = LocalStack(
        state_dir=state, api_port=_free_port(), mqtt_port=_free_port(), moto_port=_free_port(), access_log=False
    )
    endpoints = stack.start()
    try:
        api = endpoints.api
        s, _ = verified_session(api, "bench@example.com", "Bench-Passw0rd", "Bench")
        fleet = []
        for i in range(args.devices):
            data = s.post(f"{api}/v1/devices", json={"name": f"bench {i}", "type": "meter"}, timeout=30).json()["data"]
            fleet.append((data, DeviceConnection(data, state / "devices").connect(), SimulatedDevice("meter", seed=i)))
        start_ms = int(time.time() * 1000) - args.readings * 60_000
        messages = [[sim.reading(start_ms + n * 60_000) for n in range(args.readings)] for _, _, sim in fleet]
        started = time.perf_counter()
        for n in range(args.readings):
            for (_, connection, _), series in zip(fleet, messages, strict=True):
                connection.send_telemetry(series[n])
        published = time.perf_counter() - started
        pending = {data["id"] for data, _, _ in fleet}
        while pending:
            for device_id in list(pending):
                latest = s.get(f"{api}/v1/devices/{device_id}/readings/latest", timeout=30)
                if latest.status_code == 200 and latest.json()["data"]["seq"] >= args.readings:
                    pending.discard(device_id)
            if time.perf_counter() - started > 600:
                print(f"timed out with {len(pending)} devices pending", file=sys.stderr)
                return 1
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        total = args.devices * args.readings
        for _, connection, _ in fleet:
            connection.close()
        print(
            f"whole local stack: {total} readings from {args.devices} devices stored in {elapsed:.2f} s "
            f"= {total / elapsed:.0f} readings/s (publishing took {published:.2f} s = {total / published:.0f} msg/s)"
        )
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
