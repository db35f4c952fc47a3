"""`gridshare demo`: the whole system once, end to end, with a summary.

Starts the local stack, registers and verifies a user (code from the outbox), provisions simulated
devices, streams readings over MQTT (plus two malformed messages), waits until ingest has handled them,
prints what was stored and dead-lettered, stops everything and exits 0.

Its state directory (local CA, device keys, broker files) is a fresh temporary directory, deleted on exit
unless `--keep`; then its path is printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo(devices: int = 3, readings: int = 10, keep: bool = False) -> int:
    state = Path(tempfile.mkdtemp(prefix="gridshare-demo-"))
    try:
        return _run_demo(state, devices, readings)
    finally:
        if keep:
            print(f"demo state kept in {state} (device keys included)")
        else:
            shutil.rmtree(state, ignore_errors=True)


def _run_demo(state: Path, devices: int, readings: int) -> int:
    from gridshare.kernel.clock import now_ms  # the stack runs in this process: its clock, offset included
    from gridshare_local.api_client import verified_session
    from gridshare_local.device_client import DeviceConnection
    from gridshare_local.simulator import SimulatedDevice
    from gridshare_local.stack import LocalStack

    os.environ["GS_STATE_DIR"] = str(state)
    stack = LocalStack(
        state_dir=state,
        api_port=int(os.environ.get("GS_API_PORT") or _free_port()),
        mqtt_port=int(os.environ.get("GS_MQTT_PORT") or _free_port()),
        moto_port=int(os.environ.get("GS_MOTO_PORT") or _free_port()),
        access_log=False,
    )
    endpoints = stack.start()
    fleet: list[tuple[dict[str, Any], DeviceConnection, SimulatedDevice]] = []
    try:
        api = endpoints.api
        print(f"local stack up: API {api}, MQTT {endpoints.mqtt_host}:{endpoints.mqtt_port}")
        email = "demo@example.com"
        s, code = verified_session(api, email, "Demo-Passw0rd", "Demo Host")
        print(f"registered and verified {email} (code {code} from the outbox), logged in")
        kinds = ["meter", "battery", "gas_sensor", "inverter"]
        for i in range(devices):
            kind = kinds[i % len(kinds)]
            created = s.post(f"{api}/v1/devices", json={"name": f"demo {kind} {i}", "type": kind}, timeout=30)
            created.raise_for_status()
            data = created.json()["data"]
            fleet.append((data, DeviceConnection(data, state / "devices").connect(), SimulatedDevice(kind, seed=i)))
            print(f"provisioned {kind} {data['id']} -> connected over mutual TLS as {data['thingName']}")
        start = now_ms() - readings * 60_000
        for n in range(readings):
            for _, connection, sim in fleet:
                connection.send_telemetry(sim.reading(start + n * 60_000))
        first = fleet[0][1]
        first.send_telemetry(b"{not json")
        first.send_telemetry({"ts": now_ms(), "seq": 10_000, "metrics": {"voltage_v": 99_999}})
        expected = devices * readings
        stored = _wait_stored(s, api, fleet, readings)
        admin_view = _dead_letters(stack, api)
        for data, connection, _ in fleet:
            connection.close()
            latest = s.get(f"{api}/v1/devices/{data['id']}/readings/latest", timeout=30).json().get("data", {})
            print(f"  {data['type']:<10} {data['id']}  latest seq {latest.get('seq')}  metrics {latest.get('metrics')}")
        print(f"summary: {stored}/{expected} readings stored, {len(admin_view)} dead-lettered:")
        for letter in admin_view:
            print(f"  {letter['id']}: " + "; ".join(f"{r['field']}: {r['message']}" for r in letter["reasons"]))
        return 0 if stored == expected and len(admin_view) == 2 else 1
    finally:
        for _, connection, _ in fleet:
            connection.close()  # a second close returns at once
        stack.stop()


def _wait_stored(s: Any, api: str, fleet: list[Any], readings: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    total = 0
    while time.monotonic() < deadline:
        total = 0
        for data, _, _ in fleet:
            latest = s.get(f"{api}/v1/devices/{data['id']}/readings/latest", timeout=30)
            total += latest.json()["data"]["seq"] if latest.status_code == 200 else 0
        if total >= len(fleet) * readings:
            break
        time.sleep(0.5)
    return total


def _dead_letters(stack: Any, api: str, timeout: float = 30) -> list[dict[str, Any]]:
    import requests

    from gridshare.identity.service import identity_service

    identity_service().create_admin("demo-admin@example.com", "Demo-Adm1n-Passw0rd", "Demo Admin")
    token = requests.post(
        f"{api}/v1/auth/login", json={"email": "demo-admin@example.com", "password": "Demo-Adm1n-Passw0rd"}, timeout=30
    )
    headers = {"Authorization": f"Bearer {token.json()['data']['accessToken']}"}
    deadline = time.monotonic() + timeout
    letters: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        letters = requests.get(f"{api}/v1/telemetry/dead-letters", headers=headers, timeout=30).json()["data"]
        if len(letters) >= 2:
            break
        time.sleep(0.5)
    return letters
