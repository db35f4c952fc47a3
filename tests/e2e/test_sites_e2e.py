"""A prosumer's solar site, as the host and a meter would use it, through the running local stack."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5

from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

Q = 900_000  # 15 minutes in ms


def _latest_seq(stack: Stack, device_id: str, token: str) -> int | None:
    response = stack.call("GET", f"/v1/devices/{device_id}/readings/latest", token=token)
    return int(response.json()["data"]["seq"]) if response.status_code == 200 else None


def test_a_solar_sites_meter_streams_and_the_site_shows_its_energy_per_15_minutes(stack: Stack, tmp_path: Path) -> None:
    # Given a prosumer with a solar site and a production meter attached to it
    token = stack.register("solar.host@example.com")["accessToken"]
    site = stack.call(
        "POST",
        "/v1/sites",
        {
            "name": "Roof",
            "kind": "solar",
            "capacityKw": 8.1,
            "panels": {"count": 18, "wattPeak": 450, "tiltDeg": 35, "azimuthDeg": 180},
            "location": {"lat": 48.14, "lon": 11.58},
            "timezone": "Europe/Berlin",
            "tariff": {"currency": "EUR", "retailMinorPerKwh": 32, "feedInMinorPerKwh": 8},
        },
        token=token,
    )
    assert site.status_code == 201, site.text
    site_id = site.json()["data"]["id"]
    meter = stack.call("POST", "/v1/devices", {"name": "pv meter", "type": "meter"}, token=token).json()["data"]
    attached = stack.call("PUT", f"/v1/sites/{site_id}/devices/{meter['id']}", {"role": "production"}, token=token)
    assert attached.status_code == 200, attached.text

    # When the meter streams its export counter over MQTT (mutual TLS): 400 Wh in one quarter hour, 500 in
    # the next (each reading at a quarter's last millisecond, so each delta stays inside its quarter)
    bucket = (int(time.time() * 1000) - 3_600_000) // Q * Q
    with DeviceConnection(meter, tmp_path / "meter") as device:
        for seq, (ts, counter) in enumerate(
            [(bucket + 60_000, 10_000), (bucket + Q - 1, 10_400), (bucket + 2 * Q - 1, 10_900)], start=1
        ):
            code = device.send_telemetry({"ts": ts, "seq": seq, "metrics": {"energy_export_wh": counter}})
            assert code == mqtt5.PubackReasonCode.SUCCESS
            # one at a time: a reading stored after a later one is "late" and its energy is not re-split
            wait_for(lambda seq=seq: _latest_seq(stack, meter["id"], token) == seq, f"reading {seq} stored")

    # Then the site's energy per 15 minutes shows what the meter produced
    def energy() -> dict[str, Any] | None:
        response = stack.call(
            "GET",
            f"/v1/sites/{site_id}/energy",
            params={"from": bucket, "to": bucket + 2 * Q, "resolution": "15m"},
            token=token,
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data if data["totals"]["production"] == 900 else None

    data = wait_for(energy)
    assert [i["production"] for i in data["intervals"]] == [400, 500]
    # no grid or load meter: everything produced was exported, nothing consumed on site
    assert [(i["export"], i["consumption"], i["selfSufficiency"]) for i in data["intervals"]] == [
        (400, 0, None),
        (500, 0, None),
    ]

    # And the device's own PATCH moves it: off the site (no energy), back on with its role (the same figures)
    def site_energy() -> dict[str, Any]:
        params = {"from": bucket, "to": bucket + 2 * Q, "resolution": "15m"}
        response = stack.call("GET", f"/v1/sites/{site_id}/energy", params=params, token=token)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    off = stack.call("PATCH", f"/v1/devices/{meter['id']}", {"siteId": None}, token=token)
    assert off.status_code == 200 and off.json()["data"]["siteId"] is None, off.text
    assert (site_energy()["devices"], site_energy()["totals"]["production"]) == (0, 0)
    back = stack.call("PATCH", f"/v1/devices/{meter['id']}", {"siteId": site_id, "siteRole": "production"}, token=token)
    assert back.status_code == 200, back.text
    assert stack.call("GET", f"/v1/devices/{meter['id']}", token=token).json()["data"]["siteId"] == site_id
    assert site_energy()["totals"]["production"] == 900
    # And another user sees no such site
    other = stack.register("solar.neighbour@example.com")["accessToken"]
    assert stack.call("GET", f"/v1/sites/{site_id}/energy", token=other).status_code == 404
