"""An energy community of three members (one simulated) through the running local stack: a producer's and
a consumer's meters stream over MQTT, a simulated household draws its synthetic load, and the community's
energy shows the producer's surplus shared with them, balanced (shared out == shared in, no member above
its deficit)."""

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
BOUNDARY = {"type": "Polygon", "coordinates": [[[11.4, 48.0], [11.8, 48.0], [11.8, 48.3], [11.4, 48.3], [11.4, 48.0]]]}


def _site(stack: Stack, token: str, name: str, lat: float, lon: float) -> str:
    body = {
        "name": name,
        "kind": "solar",
        "capacityKw": 6,
        "location": {"lat": lat, "lon": lon},
        "timezone": "Europe/Berlin",
        "tariff": {"currency": "EUR", "retailMinorPerKwh": 32, "feedInMinorPerKwh": 8},
    }
    response = stack.call("POST", "/v1/sites", body, token=token)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def _meter(stack: Stack, token: str, site_id: str, role: str) -> dict[str, Any]:
    meter = stack.call("POST", "/v1/devices", {"name": f"{role} meter", "type": "meter"}, token=token).json()["data"]
    attached = stack.call("PUT", f"/v1/sites/{site_id}/devices/{meter['id']}", {"role": role}, token=token)
    assert attached.status_code == 200, attached.text
    return dict(meter)


def _latest_seq(stack: Stack, device_id: str, token: str) -> int | None:
    response = stack.call("GET", f"/v1/devices/{device_id}/readings/latest", token=token)
    return int(response.json()["data"]["seq"]) if response.status_code == 200 else None


def _stream(
    stack: Stack, meter: dict[str, Any], token: str, folder: Path, counter: str, points: list[tuple[int, int]]
) -> None:
    with DeviceConnection(meter, folder) as device:
        for seq, (ts, value) in enumerate(points, start=1):
            code = device.send_telemetry({"ts": ts, "seq": seq, "metrics": {counter: value}})
            assert code == mqtt5.PubackReasonCode.SUCCESS
            wait_for(lambda seq=seq: _latest_seq(stack, meter["id"], token) == seq, f"reading {seq} stored")


def test_a_community_of_three_members_shares_a_surplus_and_its_totals_balance(stack: Stack, tmp_path: Path) -> None:
    # Given a producer (the community's referent) and a household, each with a site inside the boundary
    producer = stack.register("community.producer@example.com")
    outsider = stack.register("community.outsider@example.com", role="consumer")
    referent = producer["accessToken"]
    community = stack.call(
        "POST",
        "/v1/communities",
        {
            "name": "Isar valley",
            "description": "three households",
            "boundary": BOUNDARY,
            "sharing": {"rule": "pro_rata", "priceMinorPerKwh": 12, "currency": "EUR"},
        },
        token=referent,
    )
    assert community.status_code == 201, community.text
    community_id = community.json()["data"]["id"]
    producer_site = _site(stack, referent, "Producer roof", 48.14, 11.58)
    # (sites are hosted by prosumers: the household that consumes is one, with only a load meter)
    host = stack.register("community.household@example.com")
    household_site = _site(stack, host["accessToken"], "Household", 48.15, 11.6)
    pv = _meter(stack, referent, producer_site, "production")
    load = _meter(stack, host["accessToken"], household_site, "consumption")

    # When the meters stream their counters over MQTT: 1,200 Wh produced, 500 Wh consumed in one quarter hour
    bucket = (int(time.time() * 1000) - 3_600_000) // Q * Q
    _stream(
        stack, pv, referent, tmp_path / "pv", "energy_export_wh", [(bucket + 60_000, 10_000), (bucket + Q - 1, 11_200)]
    )
    _stream(
        stack,
        load,
        host["accessToken"],
        tmp_path / "load",
        "energy_import_wh",
        [(bucket + 60_000, 3_000), (bucket + Q - 1, 3_500)],
    )

    # And the community has three members: the producer, the household, a simulated household (no PV)
    members = [
        {"userId": producer["user"]["id"], "memberType": "producer", "userType": "real", "siteId": producer_site},
        {
            "email": "community.household@example.com",
            "memberType": "consumer",
            "userType": "real",
            "siteId": household_site,
        },
        {"memberType": "consumer", "userType": "simulated", "profile": {"annualLoadKwh": 5000, "pvKwp": 0}},
    ]
    for body in members:
        added = stack.call("POST", f"/v1/communities/{community_id}/members", body, token=referent)
        assert added.status_code == 201, added.text
    # (a user who is not a member sees no such community)
    assert stack.call("GET", f"/v1/communities/{community_id}/energy", token=outsider["accessToken"]).status_code == 404

    # Then the community's energy shows the surplus shared, balanced
    def energy() -> dict[str, Any] | None:
        response = stack.call(
            "GET",
            f"/v1/communities/{community_id}/energy",
            params={"from": bucket, "to": bucket + Q, "resolution": "15m", "detail": "true"},
            token=host["accessToken"],
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data if data["totals"]["production"] >= 1_200 else None

    data = wait_for(energy)
    (interval,) = data["intervals"]
    rows = interval["members"]
    shared_out, shared_in = sum(r["sharedOut"] for r in rows), sum(r["sharedIn"] for r in rows)
    assert shared_out == shared_in == interval["shared"] > 0
    assert all(r["sharedIn"] <= r["deficit"] and r["sharedOut"] <= r["surplus"] for r in rows)
    producer_row, household_row, simulated_row = rows
    assert (producer_row["production"], household_row["consumption"]) == (1_200, 500)
    assert simulated_row["consumption"] > 0 and simulated_row["production"] == 0
    assert interval["shared"] == min(1_200, 500 + simulated_row["consumption"])
    totals = data["totals"]
    assert totals["gridImport"] + totals["shared"] + totals["selfConsumed"] == totals["consumption"]
    assert totals["co2AvoidedG"] == round(
        (totals["shared"] + totals["selfConsumed"]) * data["gridIntensityGPerKwh"] / 1000
    )
    print(
        f"\ncommunity energy: produced {totals['production']} Wh, consumed {totals['consumption']} Wh, "
        f"shared {totals['shared']} Wh (out {shared_out} == in {shared_in}), "
        f"self-sufficiency {totals['selfSufficiency']:.3f}, CO2 avoided {totals['co2AvoidedG']} g"
    )
