"""Communities through the API against moto: communities, members (real and simulated), boundaries,
static coefficients, who may read and change them, and the energy shared inside a community."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device, ingest

Q = 900_000
SQUARE = {"type": "Polygon", "coordinates": [[[11.0, 48.0], [12.0, 48.0], [12.0, 49.0], [11.0, 49.0], [11.0, 48.0]]]}


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _fields(response: Any) -> set[str]:
    return {e["field"] for e in json.loads(response.body).get("errors", [])}


def community_body(rule: str = "pro_rata", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Isar valley",
        "description": "neighbours sharing their roofs",
        "boundary": SQUARE,
        "sharing": {"rule": rule, "priceMinorPerKwh": 12, "currency": "EUR"},
    }
    body.update(changes)
    return body


def create_community(api: Api, token: str, **changes: Any) -> dict[str, Any]:
    response = api.call("POST", "/v1/communities", community_body(**changes), token=token)
    assert response.status_code == 201, response.body
    return _data(response)


def create_site(api: Api, token: str, lat: float = 48.5, lon: float = 11.5) -> dict[str, Any]:
    body = {
        "name": "Roof",
        "kind": "solar",
        "capacityKw": 6,
        "location": {"lat": lat, "lon": lon},
        "timezone": "Europe/Berlin",
        "tariff": {"currency": "EUR", "retailMinorPerKwh": 30, "feedInMinorPerKwh": 8},
    }
    response = api.call("POST", "/v1/sites", body, token=token)
    assert response.status_code == 201, response.body
    return _data(response)


def add(api: Api, token: str, community_id: str, body: dict[str, Any], status: int = 201) -> Any:
    response = api.call("POST", f"/v1/communities/{community_id}/members", body, token=token)
    assert response.status_code == status, response.body
    return response


SIMULATED = {"memberType": "prosumer", "userType": "simulated", "profile": {"annualLoadKwh": 3500, "pvKwp": 4}}


def test_a_referent_runs_a_community_and_its_members_read_it_while_others_get_404(api: Api) -> None:
    referent = register_user(api, "referent@example.com")
    token = referent["accessToken"]
    community = create_community(api, token)
    assert community["referentId"] == referent["user"]["id"] and community["sharing"]["rule"] == "pro_rata"

    neighbour = register_user(api, "neighbour@example.com", role="consumer")
    stranger = register_user(api, "stranger@example.com", role="consumer")["accessToken"]
    member = _data(
        add(
            api,
            token,
            community["id"],
            {"email": "neighbour@example.com", "memberType": "consumer", "userType": "real"},
        )
    )
    assert member["userId"] == neighbour["user"]["id"] and member["userType"] == "real"
    add(
        api,
        token,
        community["id"],
        {"userId": neighbour["user"]["id"], "memberType": "consumer", "userType": "real"},
        409,
    )

    path = f"/v1/communities/{community['id']}"
    add(api, token, community["id"], {"userId": referent["user"]["id"], "memberType": "prosumer", "userType": "real"})
    # a member sees itself, and the others without their user, point of delivery or site
    seen = {
        m["memberType"]: m["userId"] for m in _data(api.call("GET", f"{path}/members", token=neighbour["accessToken"]))
    }
    assert seen == {"consumer": neighbour["user"]["id"], "prosumer": None}
    seen = {m["memberType"]: m["userId"] for m in _data(api.call("GET", f"{path}/members", token=token))}
    assert seen == {"consumer": neighbour["user"]["id"], "prosumer": referent["user"]["id"]}
    assert _data(api.call("GET", path, token=neighbour["accessToken"]))["id"] == community["id"]
    assert [c["id"] for c in _data(api.call("GET", "/v1/communities", token=neighbour["accessToken"]))] == [
        community["id"]
    ]
    assert api.call("GET", path, token=stranger).status_code == 404
    assert api.call("GET", f"{path}/members", token=stranger).status_code == 404
    assert _data(api.call("GET", "/v1/communities", token=stranger)) == []
    # a member reads, but does not change (a consumer may not edit at all; another prosumer gets 404)
    assert api.call("PATCH", path, {"name": "Mine"}, token=neighbour["accessToken"]).status_code == 403
    other_prosumer = register_user(api, "other.prosumer@example.com")["accessToken"]
    assert api.call("PATCH", path, {"name": "Mine"}, token=other_prosumer).status_code == 404
    assert api.call("DELETE", path, token=other_prosumer).status_code == 404

    changed = api.call("PATCH", path, {"name": "Isar valley energy"}, token=token)
    assert changed.status_code == 200 and _data(changed)["name"] == "Isar valley energy"
    create_admin()
    admin = json.loads(
        api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}).body
    )
    admin_token = admin["data"]["accessToken"]
    assert api.call("GET", path, token=admin_token).status_code == 200

    removed = api.call("DELETE", f"{path}/members/{member['id']}", token=token)
    assert removed.status_code == 204
    assert api.call("GET", path, token=neighbour["accessToken"]).status_code == 404
    assert api.call("DELETE", path, token=token).status_code == 204
    assert api.call("GET", path, token=token).status_code == 404


def test_members_are_paged_and_bounded_by_the_boundary(api: Api) -> None:
    token = register_user(api, "referent@example.com")["accessToken"]
    community = create_community(api, token)
    for _ in range(3):
        add(api, token, community["id"], SIMULATED)
    first = json.loads(api.call("GET", f"/v1/communities/{community['id']}/members?limit=2", token=token).body)
    assert len(first["data"]) == 2 and first["pagination"]["nextCursor"]
    rest = json.loads(
        api.call(
            "GET",
            f"/v1/communities/{community['id']}/members?limit=2&cursor={first['pagination']['nextCursor']}",
            token=token,
        ).body
    )
    assert len({m["id"] for m in first["data"] + rest["data"]}) == 3

    inside, outside = create_site(api, token), create_site(api, token, lat=52.5, lon=13.4)
    me = _data(api.call("GET", "/v1/me", token=token))["id"]
    add(
        api,
        token,
        community["id"],
        {"userId": me, "memberType": "prosumer", "userType": "real", "siteId": inside["id"]},
    )
    refused = add(api, token, community["id"], {**SIMULATED, "siteId": outside["id"]}, 422)
    assert _fields(refused) == {"siteId"}
    # another user's site is refused as a missing one would be (no probing of site ids)
    someone = register_user(api, "someone@example.com")["accessToken"]
    theirs = create_site(api, someone)
    for site_id in (theirs["id"], "01J00000000000000000000000"):
        response = add(api, token, community["id"], {**SIMULATED, "siteId": site_id}, 422)
        assert json.loads(response.body)["errors"] == [{"field": "siteId", "message": "no such site of the member's"}]
    # a boundary that would leave a member's site outside is refused too
    far = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    moved = api.call("PATCH", f"/v1/communities/{community['id']}", {"boundary": far}, token=token)
    assert moved.status_code == 422 and _fields(moved) == {"boundary"}


def test_invalid_boundaries_and_coefficients_are_refused_naming_the_field(api: Api) -> None:
    token = register_user(api, "referent@example.com")["accessToken"]
    open_ring = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}
    response = api.call("POST", "/v1/communities", community_body(boundary=open_ring), token=token)
    assert response.status_code == 422 and _fields(response) == {"boundary"}
    off_earth = {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]}
    assert api.call("POST", "/v1/communities", community_body(boundary=off_earth), token=token).status_code == 422

    community = create_community(api, token, rule="static")
    add(api, token, community["id"], {**SIMULATED, "coefficient": "0.6"})
    too_much = add(api, token, community["id"], {**SIMULATED, "coefficient": "0.5"}, 422)
    assert _fields(too_much) == {"coefficient"}
    second = _data(add(api, token, community["id"], {**SIMULATED, "coefficient": "0.3"}))
    # 0.6 + 0.3 != 1: the energy of a static community is refused until they sum to exactly 1
    energy = f"/v1/communities/{community['id']}/energy"
    assert api.call("GET", energy, token=token).status_code == 409
    patched = api.call(
        "PATCH", f"/v1/communities/{community['id']}/members/{second['id']}", {"coefficient": "0.4"}, token=token
    )
    assert patched.status_code == 200, patched.body
    assert api.call("GET", energy, token=token).status_code == 200


def _reading(thing: str, ts: int, seq: int, imported: int, exported: int) -> None:
    payload = {"ts": ts, "seq": seq, "metrics": {"energy_import_wh": imported, "energy_export_wh": exported}}
    assert ingest(thing, json.dumps(payload)) == {"batchItemFailures": []}


def test_energy_shares_a_producers_surplus_with_a_consumer_and_a_simulated_member(api: Api) -> None:
    producer = register_user(api, "producer@example.com")
    consumer = register_user(api, "consumer@example.com", role="prosumer")
    community = create_community(api, producer["accessToken"])
    sites = {}
    for who, role in ((producer, "production"), (consumer, "consumption")):
        site = create_site(api, who["accessToken"])
        meter = create_device(api, who["accessToken"], name=role)
        put = api.call("PUT", f"/v1/sites/{site['id']}/devices/{meter['id']}", {"role": role}, token=who["accessToken"])
        assert put.status_code == 200, put.body
        sites[role] = (site, meter)
    bucket = (int(time.time() * 1000) - 3 * 3_600_000) // Q * Q
    pv, load = sites["production"][1]["thingName"], sites["consumption"][1]["thingName"]
    _reading(pv, bucket + 60_000, 1, 0, 10_000)
    _reading(load, bucket + 60_000, 1, 5_000, 0)
    _reading(pv, bucket + Q - 1, 2, 0, 11_000)  # +1000 produced
    _reading(load, bucket + Q - 1, 2, 5_400, 0)  # +400 consumed

    referent = producer["accessToken"]
    for who, role, member_type in ((producer, "production", "producer"), (consumer, "consumption", "consumer")):
        add(
            api,
            referent,
            community["id"],
            {
                "userId": who["user"]["id"],
                "memberType": member_type,
                "userType": "real",
                "siteId": sites[role][0]["id"],
            },
        )
    # a simulated household with no PV: its load is a deficit (the profile's 15 minutes at night: > 0)
    add(
        api,
        referent,
        community["id"],
        {"memberType": "consumer", "userType": "simulated", "profile": {"annualLoadKwh": 4000, "pvKwp": 0}},
    )

    response = api.call(
        "GET",
        f"/v1/communities/{community['id']}/energy?from={bucket}&to={bucket + Q}&resolution=15m&detail=true",
        token=consumer["accessToken"],
    )
    assert response.status_code == 200, response.body
    energy = _data(response)
    (interval,) = energy["intervals"]
    rows = interval["members"]
    assert sum(r["sharedOut"] for r in rows) == sum(r["sharedIn"] for r in rows) == interval["shared"]
    assert all(r["sharedIn"] <= r["deficit"] and r["sharedOut"] <= r["surplus"] for r in rows)
    producer_row, consumer_row, simulated_row = rows
    assert (producer_row["production"], consumer_row["consumption"]) == (1000, 400)
    assert simulated_row["consumption"] > 0
    assert interval["shared"] == min(1000, 400 + simulated_row["consumption"])
    assert interval["production"] == 1000
    assert energy["totals"]["co2AvoidedG"] == round(interval["shared"] * energy["gridIntensityGPerKwh"] / 1000)


def test_static_coefficients_may_be_decimals_numbers_or_fractions_and_must_sum_to_exactly_one(api: Api) -> None:
    token = register_user(api, "referent@example.com")["accessToken"]
    community = create_community(api, token, rule="static")
    shares = ["1/3", 0.5, "0.1"]
    made = [_data(add(api, token, community["id"], {**SIMULATED, "coefficient": share})) for share in shares]
    assert [m["coefficient"] for m in made] == ["1/3", "0.5", "0.1"]
    energy = f"/v1/communities/{community['id']}/energy"
    assert api.call("GET", energy, token=token).status_code == 409  # 1/3 + 1/2 + 1/10 != 1
    fixed = api.call(
        "PATCH", f"/v1/communities/{community['id']}/members/{made[2]['id']}", {"coefficient": "1/6"}, token=token
    )
    assert fixed.status_code == 200, fixed.body
    assert api.call("GET", energy, token=token).status_code == 200
    for bad in ("1.5", "3/2", -0.1, "0.1.2", True, "0/0", "1/0", 1e-20):
        response = api.call(
            "POST", f"/v1/communities/{community['id']}/members", {**SIMULATED, "coefficient": bad}, token=token
        )
        assert response.status_code == 422 and _fields(response) == {"coefficient"}, (bad, response.body)


def test_work_is_bounded_members_per_community_energy_spans_and_detail(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridshare.communities import service

    token = register_user(api, "referent@example.com")["accessToken"]
    community = create_community(api, token)
    monkeypatch.setattr(service, "MAX_MEMBERS", 2)
    monkeypatch.setattr(service, "MAX_DETAIL_CELLS", 10)
    add(api, token, community["id"], SIMULATED)
    add(api, token, community["id"], SIMULATED)
    add(api, token, community["id"], SIMULATED, 409)  # full

    energy = f"/v1/communities/{community['id']}/energy"
    too_long = api.call(
        "GET", f"{energy}?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&resolution=15m", token=token
    )
    assert too_long.status_code == 422 and _fields(too_long) == {"from"}
    assert api.call("GET", f"{energy}?resolution=5m", token=token).status_code == 422
    detailed = api.call("GET", f"{energy}?resolution=1h&detail=true", token=token)  # 24 intervals x 2 > 10
    assert detailed.status_code == 422 and _fields(detailed) == {"detail"}
    daily = api.call("GET", f"{energy}?resolution=1d&detail=true", token=token)
    assert daily.status_code == 200, daily.body
    data = _data(daily)
    assert len(data["intervals"]) in (1, 2) and all(len(i["members"]) == 2 for i in data["intervals"])
    assert all(m["userType"] == "simulated" and m["consumption"] > 0 for m in data["members"])


def test_every_community_route_lets_a_member_read_and_never_change(api: Api) -> None:
    """Members (a consumer, a prosumer) read the community, its members and its energy; changing answers 403
    to a role that may never change a community and 404 to a prosumer who is not its referent."""
    token = register_user(api, "referent@example.com")["accessToken"]
    community = create_community(api, token)
    simulated = _data(add(api, token, community["id"], SIMULATED))
    path = f"/v1/communities/{community['id']}"
    for role, refused in (("consumer", 403), ("prosumer", 404)):
        member = register_user(api, f"member.{role}@example.com", role=role)
        add(api, token, community["id"], {"userId": member["user"]["id"], "memberType": role, "userType": "real"})
        reader = member["accessToken"]
        for read in (path, f"{path}/members", f"{path}/energy"):
            assert api.call("GET", read, token=reader).status_code == 200, (role, read)
        for method, target, body in (
            ("PATCH", path, {"name": "taken over"}),
            ("DELETE", path, None),
            ("POST", f"{path}/members", SIMULATED),
            ("PATCH", f"{path}/members/{simulated['id']}", {"pod": "IT001E00000001"}),
            ("DELETE", f"{path}/members/{simulated['id']}", None),
        ):
            assert api.call(method, target, body, token=reader).status_code == refused, (role, method, target)
    assert _data(api.call("GET", path, token=token))["name"] == "Isar valley"
