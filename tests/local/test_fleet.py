"""A simulated fleet kept under the state directory: owner-only keys, reopened by name, continued readings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gridshare_local.cli_errors import CliError
from gridshare_local.fleet import Fleet, fleet_name
from gridshare_local.simulator import SimulatedDevice


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def provisioned(n: int) -> dict[str, object]:
    """What POST /v1/devices answers, with stand-in PEMs."""
    return {
        "id": f"01DEVICE{n}",
        "name": f"default meter {n}",
        "type": "meter",
        "thingName": f"gs-01device{n}",
        "certificatePem": "-----BEGIN CERTIFICATE-----\n...\n",
        "privateKey": f"-----BEGIN PRIVATE KEY-----\nsecret {n}\n",
        "caCertificatePem": "-----BEGIN CERTIFICATE-----\nca\n",
        "mqtt": {"host": "127.0.0.1", "port": 8883},
    }


def test_a_fleet_keeps_its_devices_owner_only_and_is_reopened_by_name(tmp_path: Path) -> None:
    # Given a fleet that provisioned two devices
    fleet = Fleet.open(tmp_path, "default")
    fleet.owner = "me@example.com"
    first, second = fleet.add(provisioned(1), seed=0), fleet.add(provisioned(2), seed=1)
    first.state = {"seq": 7}
    fleet.save()

    # Then its keys and record are in <state>/fleets/<name>/, readable by the owner only
    assert fleet.dir == tmp_path / "fleets" / "default"
    cert, key, ca = fleet.files(first)
    assert key.read_text().endswith("secret 1\n") and cert.exists() and ca.exists()
    assert _mode(key) == 0o600 and _mode(fleet.files(second)[1]) == 0o600
    assert _mode(fleet.dir / "fleet.json") == 0o600
    assert _mode(fleet.dir) == 0o700 and _mode(fleet.dir.parent) == 0o700

    # When the next run opens it by name, Then it has the same devices and where they got to
    again = Fleet.open(tmp_path, "default")
    assert again.owner == "me@example.com"
    assert [d.id for d in again.devices] == ["01DEVICE1", "01DEVICE2"]
    assert again.devices[0].state == {"seq": 7} and again.has_credentials(again.devices[0])

    # When a device is dropped (the stack no longer knows it), its key goes with it
    again.drop(again.devices[0])
    assert not key.exists() and not cert.exists()
    assert [d.id for d in Fleet.open(tmp_path, "default").devices] == ["01DEVICE2"]

    # And forgetting the fleet deletes every key
    again.remove()
    assert not fleet.dir.exists()


def test_fleet_names_are_plain_directory_names(tmp_path: Path) -> None:
    assert fleet_name("lab-2.b_c") == "lab-2.b_c"
    for bad in ("../x", "a/b", ".hidden", "-x", "", "x" * 65):
        with pytest.raises(ValueError):
            fleet_name(bad)


def test_an_unreadable_record_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "fleets" / "broken").mkdir(parents=True)
    (tmp_path / "fleets" / "broken" / "fleet.json").write_text("{not json")
    with pytest.raises(CliError, match="cannot be read"):
        Fleet.open(tmp_path, "broken")


def test_a_resumed_device_continues_its_seq_and_counters() -> None:
    # Given a meter that sent 3 readings in an earlier run
    earlier = SimulatedDevice("meter", seed=0)
    for ts in (1_000_000, 1_060_000, 1_120_000):
        last = earlier.reading(ts)
    # When the next run resumes it, from its snapshot and the newest stored reading
    resumed = SimulatedDevice("meter", seed=0)
    resumed.resume(earlier.snapshot(), {"seq": 3, "metrics": last["metrics"]})
    nxt = resumed.reading(1_180_000)
    # Then its seq continues and its counters never go backwards (the backend refuses both otherwise)
    assert nxt["seq"] == 4
    assert nxt["metrics"]["energy_import_wh"] >= last["metrics"]["energy_import_wh"]
    assert nxt["metrics"]["energy_export_wh"] >= last["metrics"]["energy_export_wh"]
    # And a stored reading further on than the snapshot (a run killed before it saved) wins
    killed = SimulatedDevice("meter", seed=0)
    killed.resume({}, {"seq": 40, "metrics": {"energy_import_wh": 10**9, "energy_export_wh": 5}})
    assert killed.reading(2_000_000)["seq"] == 41 and killed.import_wh >= 10**9
