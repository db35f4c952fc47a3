"""A named fleet of simulated devices, kept under the stack's state directory so that runs reuse it.

`gridshare simulate --fleet NAME` keeps `<state dir>/fleets/<NAME>/` (owner-only, 0700):

    fleet.json     its owner's email and, per device: id, name, type, thing name, seed, and where its
                   readings got to (seq, counters), so the next run continues them: the backend refuses a
                   seq already used and a cumulative counter that goes backwards (owner-only file)
    <thing>.crt    the device's certificate
    <thing>.key    its private key (0600 from the first byte)
    ca.crt         the local CA that signed them

The stack forgets every device when it restarts (moto starts empty); a run then finds its devices gone
(404), deletes their files and provisions new ones. `--forget` deletes the whole fleet directory on exit.
A run without `--fleet` uses a one-off fleet (`run-<pid>`) that is always deleted on exit.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gridshare_local.cli_errors import EXIT_USAGE, CliError
from gridshare_local.device_client import write_credentials
from gridshare_local.state_secrets import write_owner_only

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RECORD = "fleet.json"
VERSION = 1


def fleet_name(text: str) -> str:
    """A fleet name is a directory name: letters, digits, `_`, `.`, `-`, at most 64, not starting with `.`/`-`."""
    if not NAME.fullmatch(text):
        raise ValueError(f"'{text}' is not a fleet name: use letters, digits, _ . - (at most 64)")
    return text


@dataclass
class FleetDevice:
    id: str
    name: str
    type: str
    thing_name: str
    seed: int
    mqtt: dict[str, Any] = field(default_factory=dict)  # {host, port} when it was provisioned
    state: dict[str, Any] = field(default_factory=dict)  # SimulatedDevice.snapshot() at the end of the last run


class Fleet:
    def __init__(self, state_dir: Path, name: str) -> None:
        self.name = fleet_name(name)
        self.dir = state_dir / "fleets" / name
        self.owner: str | None = None
        self.devices: list[FleetDevice] = []

    @classmethod
    def open(cls, state_dir: Path, name: str) -> Fleet:
        """The fleet as the last run left it (no devices when there was none)."""
        fleet = cls(state_dir, name)
        record = fleet.dir / RECORD
        if record.exists():
            try:
                data = json.loads(record.read_text())
                fleet.owner = data.get("owner")
                fleet.devices = [FleetDevice(**d) for d in data.get("devices", [])]
            except (ValueError, TypeError) as exc:
                raise CliError(
                    f"{record} cannot be read ({exc}): delete {fleet.dir} or use another --fleet", EXIT_USAGE
                ) from None
        return fleet

    def files(self, device: FleetDevice) -> tuple[Path, Path, Path]:
        """(certificate, private key, CA) of a device."""
        return (
            self.dir / f"{device.thing_name}.crt",
            self.dir / f"{device.thing_name}.key",
            self.dir / "ca.crt",
        )

    def has_credentials(self, device: FleetDevice) -> bool:
        return all(path.exists() for path in self.files(device))

    def _make_dir(self) -> None:
        for directory in (self.dir.parent, self.dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)

    def add(self, provisioned: dict[str, Any], seed: int) -> FleetDevice:
        """Keep a device just provisioned (the `data` of POST /v1/devices): its credentials, then the record."""
        self._make_dir()
        write_credentials(provisioned, self.dir)
        device = FleetDevice(
            id=provisioned["id"],
            name=provisioned["name"],
            type=provisioned["type"],
            thing_name=provisioned["thingName"],
            seed=seed,
            mqtt=dict(provisioned.get("mqtt") or {}),
        )
        self.devices.append(device)
        self.save()
        return device

    def drop(self, device: FleetDevice) -> None:
        """Forget a device (the stack no longer knows it): its key and certificate go too."""
        cert, key, _ = self.files(device)
        key.unlink(missing_ok=True)
        cert.unlink(missing_ok=True)
        self.devices.remove(device)
        self.save()

    def save(self) -> None:
        self._make_dir()
        record = {"version": VERSION, "owner": self.owner, "devices": [asdict(d) for d in self.devices]}
        write_owner_only(self.dir / RECORD, json.dumps(record, indent=2) + "\n")

    def remove(self) -> None:
        """Delete the fleet: its record and every key and certificate."""
        shutil.rmtree(self.dir, ignore_errors=True)
