"""Simulated devices: meters with PV and household load, batteries, LPG gas sensors.

Profiles are deterministic for a seed, so a run can be reproduced; energy counters are cumulative and
monotonic, as real meters are. Timestamps come from the stack's clock (device_client.StackClock), so a
fleet keeps streaming acceptable readings after `gridshare clock advance`.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DAY_S = 86_400


@dataclass
class SimulatedDevice:
    """The state a device keeps between readings."""

    device_type: str
    seed: int
    seq: int = 0
    import_wh: int = 0
    export_wh: int = 0
    soc_pct: float = 50.0
    gas_pct: float = 100.0
    last_ts: int | None = None
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.import_wh = self.rng.randint(1_000, 500_000)
        self.export_wh = self.rng.randint(0, 200_000)
        self.gas_pct = self.rng.uniform(30, 100)

    def reading(self, ts_ms: int) -> dict[str, Any]:
        hours = ((ts_ms / 1000) % DAY_S) / 3600
        dt_h = 0.0 if self.last_ts is None else max(ts_ms - self.last_ts, 0) / 3_600_000
        self.last_ts = ts_ms
        self.seq += 1
        metrics: dict[str, Any]
        if self.device_type in ("meter", "inverter"):
            pv = max(0.0, 4000 * math.sin(math.pi * (hours - 6) / 12)) if 6 <= hours <= 18 else 0.0
            pv *= self.rng.uniform(0.7, 1.0)
            load = 300 + 900 * math.exp(-((hours - 19) ** 2) / 4) + 400 * math.exp(-((hours - 8) ** 2) / 2)
            load *= self.rng.uniform(0.8, 1.2)
            net = load - pv  # positive: importing from the grid
            if net > 0:
                self.import_wh += round(net * dt_h)
            else:
                self.export_wh += round(-net * dt_h)
            metrics = {
                "power_w": round(net, 1),
                "voltage_v": round(self.rng.gauss(230, 2), 1),
                "frequency_hz": round(self.rng.gauss(50, 0.02), 3),
                "energy_import_wh": self.import_wh,
                "energy_export_wh": self.export_wh,
            }
            if self.device_type == "inverter":
                metrics["pv_power_w"] = round(pv, 1)
        elif self.device_type == "battery":
            power = self.rng.uniform(-2000, 2000)
            self.soc_pct = min(100.0, max(0.0, self.soc_pct - power * dt_h / 100))
            metrics = {
                "power_w": round(power, 1),
                "soc_pct": round(self.soc_pct, 1),
                "temperature_c": round(self.rng.gauss(25, 1.5), 1),
            }
        else:  # gas_sensor
            self.gas_pct = max(0.0, self.gas_pct - self.rng.uniform(0, 0.05))
            metrics = {
                "gas_level_pct": round(self.gas_pct, 2),
                "leak": self.rng.random() < 0.001,
                "temperature_c": round(self.rng.gauss(21, 1), 1),
            }
        return {"ts": ts_ms, "seq": self.seq, "metrics": metrics}


def run_fleet(api: str, email: str, password: str, devices: int, interval_s: float, count: int) -> int:
    """Provision `devices` devices for an existing user and stream readings until Ctrl-C (or `count`)."""
    import requests

    from gridshare_local.device_client import DeviceConnection, StackClock

    session = requests.Session()
    stack_clock = StackClock(api)
    login = session.post(f"{api}/v1/auth/login", json={"email": email, "password": password}, timeout=30)
    login.raise_for_status()
    session.headers["Authorization"] = f"Bearer {login.json()['data']['accessToken']}"
    workdir = Path(tempfile.mkdtemp(prefix="gridshare-fleet-"))
    types = ["meter", "inverter", "battery", "gas_sensor"]
    fleet = []
    for i in range(devices):
        kind = types[i % len(types)]
        created = session.post(f"{api}/v1/devices", json={"name": f"sim {kind} {i}", "type": kind}, timeout=30)
        created.raise_for_status()
        data = created.json()["data"]
        fleet.append((DeviceConnection(data, workdir).connect(), SimulatedDevice(kind, seed=i)))
        print(f"device {data['id']} ({kind}) connected as {data['thingName']}")
    sent = 0
    try:
        n = 0
        while count == 0 or n < count:
            n += 1
            now = stack_clock.now_ms()
            for connection, state in fleet:
                connection.send_telemetry(state.reading(now))
                sent += 1
            time.sleep(interval_s)
    except KeyboardInterrupt:
        pass
    finally:
        for connection, _ in fleet:
            connection.close()
    print(f"sent {sent} readings from {len(fleet)} devices")
    return 0
