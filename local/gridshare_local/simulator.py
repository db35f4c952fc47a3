"""Simulated devices: meters with PV and household load, batteries, LPG gas sensors.

Profiles are deterministic for a seed, so a run can be reproduced; energy counters are cumulative and
monotonic, as real meters are. Timestamps come from the stack's clock (device_client.StackClock), so a
fleet keeps streaming acceptable readings after `gridshare clock advance`.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridshare_local.cli_errors import EXIT_USAGE, CliError, state_dir

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

    def snapshot(self) -> dict[str, Any]:
        """Where the device got to: what the next run needs to continue (seq, counters, levels)."""
        return {
            "seq": self.seq,
            "import_wh": self.import_wh,
            "export_wh": self.export_wh,
            "soc_pct": self.soc_pct,
            "gas_pct": self.gas_pct,
            "last_ts": self.last_ts,
        }

    def resume(self, saved: dict[str, Any], latest: dict[str, Any] | None = None) -> None:
        """Continue from a snapshot and from the newest reading the backend stored, whichever is further:
        the backend refuses a seq already used and a cumulative counter below the stored one."""
        for key in ("seq", "import_wh", "export_wh", "soc_pct", "gas_pct", "last_ts"):
            if saved.get(key) is not None:
                setattr(self, key, saved[key])
        if latest:
            metrics = latest.get("metrics") or {}
            self.seq = max(self.seq, int(latest.get("seq") or 0))
            self.import_wh = max(self.import_wh, int(metrics.get("energy_import_wh") or 0))
            self.export_wh = max(self.export_wh, int(metrics.get("energy_export_wh") or 0))


# ---------------------------------------------------------------------------------------------- a fleet run
TYPES = ("meter", "inverter", "battery", "gas_sensor")
STORED_WAIT_S = 15.0  # after the last reading of a --count run, how long to wait for ingest to store them


@dataclass
class Member:
    """One device of a run: its fleet entry, its simulated state, and what this run sent and got stored."""

    device: Any  # fleet.FleetDevice
    view: dict[str, Any]  # the API's view of the device (thingName, topics) plus mqtt {host, port}
    sim: SimulatedDevice
    connection: Any = None
    first_seq: int = 1
    sent: int = 0
    refused: int = 0
    stored: int = 0

    @property
    def label(self) -> str:
        return f"{self.device.type} {self.device.id[-6:]}"


class Progress:
    """The run in one line: readings sent and stored, per device, refreshed about once a second.

    Sent: publishes the broker acknowledged. Stored: read from the API, `GET .../readings/latest` — how far
    the device's newest stored reading has got in this run (its seq - the run's first seq + 1), never more
    than was sent. On a terminal the line is redrawn in place; otherwise it is printed every 10 s.
    """

    def __init__(self, api: str, headers: dict[str, str], members: list[Member], fleet: str, out: Any) -> None:
        import requests

        self.api, self.members, self.fleet, self.out = api, members, fleet, out
        self.session = requests.Session()  # its own: the refresh runs in another thread
        self.session.headers.update(headers)
        self.live = bool(getattr(out, "isatty", lambda: False)())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False  # a live line is on screen, not yet ended by a newline

    def refresh(self) -> None:
        import requests

        for member in self.members:
            try:
                latest = self.session.get(f"{self.api}/v1/devices/{member.device.id}/readings/latest", timeout=5)
            except requests.RequestException:
                continue  # the stack went away: the run itself will say so
            if latest.status_code == 200:
                seq = int(latest.json()["data"]["seq"])
                member.stored = max(0, min(member.sent, seq - member.first_seq + 1))

    @property
    def sent(self) -> int:
        return sum(m.sent for m in self.members)

    @property
    def stored(self) -> int:
        return sum(m.stored for m in self.members)

    def line(self) -> str:
        refused = sum(m.refused for m in self.members)
        head = f"fleet {self.fleet}: sent {self.sent}, stored {self.stored}" + (
            f", refused {refused}" if refused else ""
        )
        return head + " | " + "  ".join(f"{m.label} {m.sent}/{m.stored}" for m in self.members)

    def show(self) -> None:
        line = self.line()
        if self.live:
            width = shutil.get_terminal_size().columns - 1
            if len(line) > width:
                line = line[: max(width - 1, 0)] + "…"
            self.out.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def _run(self) -> None:
        period = 1.0 if self.live else 10.0
        while not self._stop.wait(period):
            self.refresh()
            self.show()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fleet-progress", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """No more redraws (the line stays as it is, for finish() to replace)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def stop(self) -> None:
        self.halt()
        if self._drawn:  # end the live line, so what is printed next starts on a line of its own
            self.out.write("\n")
            self.out.flush()
            self._drawn = False

    def wait_stored(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            if self.stored >= self.sent or time.monotonic() >= deadline:
                return
            time.sleep(0.3)

    def finish(self) -> None:
        """The final state on a line of its own."""
        if self.live:
            self.out.write("\r" + self.line() + "\x1b[K\n")
            self._drawn = False
        else:
            self.out.write(self.line() + "\n")
        self.out.flush()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _login(session: Any, api: str, email: str, password: str) -> dict[str, Any]:
    from gridshare_local.api_client import problem_text

    login = session.post(f"{api}/v1/auth/login", json={"email": email, "password": password}, timeout=30)
    if not login.ok:
        raise CliError(f"login failed for {email}: {problem_text(login)} (HTTP {login.status_code})")
    data: dict[str, Any] = login.json()["data"]
    if "accessToken" not in data:
        raise CliError(f"login failed for {email}: the account has 2FA on, which simulate cannot answer")
    session.headers["Authorization"] = f"Bearer {data['accessToken']}"
    return data


def _stack_mqtt(state: Path) -> dict[str, Any] | None:
    """The running stack's MQTT endpoint, from its env.json (the port can change between starts)."""
    try:
        env = json.loads((state / "env.json").read_text())
    except (OSError, ValueError):
        return None
    if env.get("GS_MQTT_HOST") and env.get("GS_MQTT_PORT"):
        return {"host": env["GS_MQTT_HOST"], "port": int(env["GS_MQTT_PORT"])}
    return None


def _assemble(session: Any, api: str, fleet: Any, size: int, state: Path, out: Any) -> list[Member]:
    """The run's devices: the fleet's own that the stack still knows, then new ones up to `size`."""
    from gridshare_local.api_client import expect

    views: list[tuple[Any, dict[str, Any]]] = []
    gone = 0
    for device in list(fleet.devices):
        if len(views) == size:
            break
        answer = session.get(f"{api}/v1/devices/{device.id}", timeout=30)
        if answer.status_code == 404 or not fleet.has_credentials(device):
            fleet.drop(device)  # the stack restarted (it forgets devices) or the key is gone: replace it
            gone += 1
            continue
        view = expect(answer, f"could not read device {device.id}")["data"]
        views.append((device, {**view, "mqtt": _stack_mqtt(state) or device.mqtt}))
    reused = len(views)
    seeds = {d.seed for d in fleet.devices}
    for i in range(len(views), size):
        kind = TYPES[i % len(TYPES)]
        created = session.post(f"{api}/v1/devices", json={"name": f"{fleet.name} {kind} {i}", "type": kind}, timeout=30)
        data = expect(created, f"could not create a device for {fleet.owner}")["data"]
        seed = next(n for n in range(i, i + len(seeds) + 1) if n not in seeds)
        seeds.add(seed)
        views.append((fleet.add(data, seed), data))
    out.write(
        f"fleet {fleet.name} ({fleet.dir}): {_plural(reused, 'device')} reused, {_plural(size - reused, 'device')} new"
        + (f"; {gone} dropped, which the stack no longer knows (it restarted)" if gone else "")
        + "\n"
    )
    members = []
    for device, view in views:
        latest = session.get(f"{api}/v1/devices/{device.id}/readings/latest", timeout=30)
        sim = SimulatedDevice(device.type, seed=device.seed)
        sim.resume(device.state, latest.json()["data"] if latest.status_code == 200 else None)
        members.append(Member(device=device, view=view, sim=sim, first_seq=sim.seq + 1))
    return members


def _connect(member: Member, fleet: Any) -> None:
    from gridshare_local.device_client import DeviceConnection

    mqtt = member.view["mqtt"]
    connection = DeviceConnection(member.view, None, files=fleet.files(member.device))
    try:
        member.connection = connection.connect()
    except Exception as exc:
        connection.client.stop()
        reason = str(exc) or type(exc).__name__
        raise CliError(
            f"device {member.device.thing_name} could not connect to MQTT at {mqtt['host']}:{mqtt['port']} "
            f"({reason}): is Mosquitto running? (`gridshare up` says)"
        ) from None


def run_fleet(
    api: str,
    email: str,
    password: str,
    devices: int,
    interval_s: float,
    count: int,
    *,
    fleet_name: str = "default",
    state: Path | None = None,
    forget: bool = False,
    out: Any = None,
) -> int:
    """Stream readings from the fleet `fleet_name` of an existing user until Ctrl-C (or `count` each).

    The fleet's devices are reused (see gridshare_local.fleet); new ones are provisioned up to `devices`.
    Exit 0 when every reading was sent and, for a `count` run, stored within STORED_WAIT_S.
    """
    import requests

    from gridshare_local.device_client import StackClock
    from gridshare_local.fleet import Fleet

    out = out or sys.stdout
    state = state or state_dir()
    session = requests.Session()
    user = _login(session, api, email, password)["user"]
    fleet = Fleet.open(state, fleet_name)
    if fleet.owner and fleet.owner != user["email"]:
        raise CliError(
            f"fleet '{fleet.name}' belongs to {fleet.owner}: log in as them, or name another with --fleet", EXIT_USAGE
        )
    fleet.owner = user["email"]
    members: list[Member] = []
    progress: Progress | None = None
    try:
        members = _assemble(session, api, fleet, devices, state, out)
        for member in members:
            _connect(member, fleet)
        out.write(
            f"streaming from {_plural(len(members), 'device')} "
            + ("until Ctrl-C" if count == 0 else f"({_plural(count, 'reading')} each)")
            + "\n"
        )
        out.flush()
        clock = StackClock(api)
        progress = Progress(api, dict(session.headers), members, fleet.name, out)
        progress.start()
        interrupted = False
        try:
            n = 0
            while count == 0 or n < count:
                n += 1
                now = clock.now_ms()
                for member in members:
                    try:
                        code = member.connection.send_telemetry(member.sim.reading(now))
                    except Exception as exc:  # no PUBACK: the broker went away
                        raise CliError(
                            f"device {member.device.thing_name}: the broker did not acknowledge a reading "
                            f"({str(exc) or type(exc).__name__}): did the stack stop?"
                        ) from None
                    if int(code) < 128:  # success, or "no matching subscribers"
                        member.sent += 1
                    else:
                        member.refused += 1
                if count == 0 or n < count:
                    time.sleep(interval_s)
        except KeyboardInterrupt:
            interrupted = True
        progress.halt()
        if interrupted:
            progress.refresh()
        else:
            progress.wait_stored(STORED_WAIT_S)
        progress.finish()
        out.write(
            f"sent {_plural(progress.sent, 'reading')} from {_plural(len(members), 'device')}, "
            f"{progress.stored} stored\n"
        )
        if not interrupted and progress.stored < progress.sent:
            raise CliError(
                f"only {progress.stored} of {progress.sent} readings were stored within {STORED_WAIT_S:.0f} s "
                "(an admin sees why in GET /v1/telemetry/dead-letters)"
            )
        return 0
    finally:
        if progress is not None:
            progress.stop()
        for member in members:
            if member.connection is not None:
                member.connection.close()
            member.device.state = member.sim.snapshot()
        if forget:
            fleet.remove()
            out.write(f"fleet {fleet.name} removed: its keys and record are deleted (keep one with --fleet NAME)\n")
        elif fleet.devices:
            fleet.save()
            out.write(f"fleet {fleet.name} kept in {fleet.dir} (keys owner-only); the next run reuses it\n")
        out.flush()
