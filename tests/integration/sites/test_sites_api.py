"""Sites through the API against moto: plants, devices on them, their energy, investments and shares."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.api import Api, register_user
from tests.support.devices import create_device, ingest
from tests.support.wallets import Member, Money

Q = 900_000


def site_body(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "Roof 1",
        "kind": "solar",
        "capacityKw": 9.9,
        "panels": {"count": 22, "wattPeak": 450, "tiltDeg": 30, "azimuthDeg": 180},
        "location": {"lat": 52.52, "lon": 13.405},
        "timezone": "Europe/Berlin",
        "tariff": {"currency": "EUR", "retailMinorPerKwh": 32, "feedInMinorPerKwh": 8},
    }
    body.update(changes)
    return body


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _problem(response: Any) -> dict[str, Any]:
    return json.loads(response.body)


def _fields(response: Any) -> set[str]:
    return {e["field"] for e in _problem(response).get("errors", [])}


def create_site(api: Api, token: str, **changes: Any) -> dict[str, Any]:
    response = api.call("POST", "/v1/sites", site_body(**changes), token=token)
    assert response.status_code == 201, response.body
    return _data(response)


# ------------------------------------------------------------------------------------------ sites
def test_a_prosumer_creates_reads_changes_lists_and_deletes_a_site(api: Api) -> None:
    token = register_user(api, "host@example.com")["accessToken"]
    site = create_site(api, token)
    assert site["kind"] == "solar" and site["panels"]["wattPeak"] == 450 and site["tariff"]["currency"] == "EUR"
    assert _data(api.call("GET", f"/v1/sites/{site['id']}", token=token)) == site

    changed = api.call("PATCH", f"/v1/sites/{site['id']}", {"name": "Roof A", "capacityKw": 12}, token=token)
    assert changed.status_code == 200, changed.body
    assert (_data(changed)["name"], _data(changed)["capacityKw"], _data(changed)["kind"]) == ("Roof A", 12, "solar")

    create_site(api, token, name="Turbine", kind="wind", panels=None)
    listed = _data(api.call("GET", "/v1/sites", token=token))
    assert {s["name"] for s in listed} == {"Roof A", "Turbine"}
    winds = _data(api.call("GET", "/v1/sites?kind=wind", token=token))
    assert [s["name"] for s in winds] == ["Turbine"]

    assert api.call("DELETE", f"/v1/sites/{site['id']}", token=token).status_code == 204
    assert api.call("GET", f"/v1/sites/{site['id']}", token=token).status_code == 404


def test_sites_are_paged(api: Api) -> None:
    token = register_user(api, "pages@example.com")["accessToken"]
    for n in range(3):
        create_site(api, token, name=f"site {n}")
    first = json.loads(api.call("GET", "/v1/sites?limit=2", token=token).body)
    assert len(first["data"]) == 2 and first["pagination"]["nextCursor"]
    second = json.loads(
        api.call("GET", f"/v1/sites?limit=2&cursor={first['pagination']['nextCursor']}", token=token).body
    )
    assert {s["name"] for s in first["data"] + second["data"]} == {"site 0", "site 1", "site 2"}


def test_a_consumer_cannot_create_a_site_and_another_users_site_is_404(api: Api) -> None:
    consumer = register_user(api, "consumer@example.com", "consumer")["accessToken"]
    assert api.call("POST", "/v1/sites", site_body(), token=consumer).status_code == 403
    host = register_user(api, "host@example.com")["accessToken"]
    other = register_user(api, "other@example.com")["accessToken"]
    site = create_site(api, host)
    for method, path, body in [
        ("GET", f"/v1/sites/{site['id']}", None),
        ("PATCH", f"/v1/sites/{site['id']}", {"name": "mine"}),
        ("DELETE", f"/v1/sites/{site['id']}", None),
        ("GET", f"/v1/sites/{site['id']}/energy", None),
        ("GET", f"/v1/sites/{site['id']}/investors", None),
    ]:
        assert api.call(method, path, body, token=other).status_code == 404, (method, path)
    assert _data(api.call("GET", "/v1/sites", token=other)) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "coal"}, "kind"),
        ({"capacityKw": 0}, "capacityKw"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"location": {"lat": 91, "lon": 0}}, "location.lat"),
        ({"tariff": {"currency": "XXX", "retailMinorPerKwh": 1, "feedInMinorPerKwh": 1}}, "tariff.currency"),
        ({"panels": {"count": 0, "wattPeak": 400, "tiltDeg": 30, "azimuthDeg": 180}}, "panels.count"),
    ],
)
def test_invalid_fields_are_422_naming_them(api: Api, changes: dict[str, Any], field: str) -> None:
    token = register_user(api, "host@example.com")["accessToken"]
    response = api.call("POST", "/v1/sites", site_body(**changes), token=token)
    assert response.status_code == 422, response.body
    assert field in _fields(response)


# ---------------------------------------------------------------------------------------- devices
def test_devices_join_one_site_with_a_role(api: Api) -> None:
    host = register_user(api, "host@example.com")["accessToken"]
    other = register_user(api, "other@example.com")["accessToken"]
    site, second = create_site(api, host), create_site(api, host, name="Roof 2")
    meter = create_device(api, host)
    foreign = create_device(api, other)
    path = f"/v1/sites/{site['id']}/devices/{meter['id']}"

    attached = api.call("PUT", path, {"role": "grid_meter"}, token=host)
    assert attached.status_code == 200, attached.body
    assert _data(attached)["role"] == "grid_meter"
    # the role changes in place; another site is refused while the device is here
    assert _data(api.call("PUT", path, {"role": "production"}, token=host))["role"] == "production"
    moved = api.call("PUT", f"/v1/sites/{second['id']}/devices/{meter['id']}", {"role": "production"}, token=host)
    assert moved.status_code == 409
    # another user's device is 404 (not the caller's), and so is attaching to another user's site
    assert (
        api.call("PUT", f"/v1/sites/{site['id']}/devices/{foreign['id']}", {"role": "storage"}, token=host).status_code
        == 404
    )
    assert api.call("PUT", path, {"role": "storage"}, token=other).status_code == 404
    bad_role = api.call("PUT", path, {"role": "toaster"}, token=host)
    assert bad_role.status_code == 422 and "role" in _fields(bad_role)

    # a site with devices cannot be deleted; detached, it can
    assert api.call("DELETE", f"/v1/sites/{site['id']}", token=host).status_code == 409
    assert api.call("DELETE", path, token=host).status_code == 204
    assert api.call("DELETE", path, token=host).status_code == 204  # nothing left to detach
    assert (
        api.call(
            "PUT", f"/v1/sites/{second['id']}/devices/{meter['id']}", {"role": "production"}, token=host
        ).status_code
        == 200
    )
    assert api.call("DELETE", f"/v1/sites/{site['id']}", token=host).status_code == 204


def test_a_sites_devices_are_listed_with_their_roles_in_pages(api: Api) -> None:
    host = register_user(api, "lister@example.com")["accessToken"]
    other = register_user(api, "nosy@example.com")["accessToken"]
    site = create_site(api, host)
    devices = [create_device(api, host) for _ in range(3)]
    for device, role in zip(devices, ("production", "consumption", "grid_meter"), strict=True):
        assert (
            api.call("PUT", f"/v1/sites/{site['id']}/devices/{device['id']}", {"role": role}, token=host).status_code
            == 200
        )

    seen: dict[str, str] = {}
    cursor = None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        response = api.call("GET", f"/v1/sites/{site['id']}/devices{query}", token=host)
        assert response.status_code == 200, response.body
        body = json.loads(response.body)
        seen.update({item["deviceId"]: item["role"] for item in body["data"]})
        cursor = body["pagination"]["nextCursor"]
        if not cursor:
            break
    assert seen == {d["id"]: r for d, r in zip(devices, ("production", "consumption", "grid_meter"), strict=True)}
    assert api.call("GET", f"/v1/sites/{site['id']}/devices", token=other).status_code == 404
    # a cursor of another site's listing is refused, naming the parameter
    second = create_site(api, host, name="Roof 2")
    first_page = json.loads(api.call("GET", f"/v1/sites/{site['id']}/devices?limit=1", token=host).body)
    foreign = api.call(
        "GET", f"/v1/sites/{second['id']}/devices?cursor={first_page['pagination']['nextCursor']}", token=host
    )
    assert foreign.status_code == 400 and "cursor" in _fields(foreign)


def test_a_site_holds_a_bounded_number_of_devices(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.sites import service as sites_service

    monkeypatch.setattr(sites_service, "MAX_DEVICES_PER_SITE", 2)
    host = register_user(api, "full@example.com")["accessToken"]
    site = create_site(api, host)
    first, second, third = (create_device(api, host) for _ in range(3))
    for device in (first, second):
        assert (
            api.call(
                "PUT", f"/v1/sites/{site['id']}/devices/{device['id']}", {"role": "production"}, token=host
            ).status_code
            == 200
        )
    full = api.call("PUT", f"/v1/sites/{site['id']}/devices/{third['id']}", {"role": "production"}, token=host)
    assert full.status_code == 409 and "deviceId" in _fields(full)
    # a device already on the site may still change its role
    again = api.call("PUT", f"/v1/sites/{site['id']}/devices/{first['id']}", {"role": "storage"}, token=host)
    assert again.status_code == 200


# ----------------------------------------------------------------------------------------- energy
def _reading(thing: str, ts: int, seq: int, imported: int, exported: int) -> None:
    payload = {"ts": ts, "seq": seq, "metrics": {"energy_import_wh": imported, "energy_export_wh": exported}}
    assert ingest(thing, json.dumps(payload)) == {"batchItemFailures": []}


def test_energy_per_interval_from_the_attached_meters(api: Api) -> None:
    host = register_user(api, "host@example.com")["accessToken"]
    site = create_site(api, host)
    grid, pv = create_device(api, host, name="grid"), create_device(api, host, name="pv")
    for device, role in ((grid, "grid_meter"), (pv, "production")):
        assert (
            api.call("PUT", f"/v1/sites/{site['id']}/devices/{device['id']}", {"role": role}, token=host).status_code
            == 200
        )
    # Given two whole 15-minute buckets an hour ago, each meter's counters rising inside each bucket
    bucket = (int(time.time() * 1000) - 3_600_000) // Q * Q
    _reading(grid["thingName"], bucket + 60_000, 1, 10_000, 5_000)
    _reading(pv["thingName"], bucket + 60_000, 1, 0, 20_000)
    # (a reading's energy since the previous one is spread over the milliseconds (previous, this]: the
    # last millisecond of a bucket keeps each delta inside one bucket)
    _reading(grid["thingName"], bucket + Q - 1, 2, 10_200, 5_300)  # +200 import, +300 export
    _reading(pv["thingName"], bucket + Q - 1, 2, 0, 21_000)  # +1000 produced
    _reading(grid["thingName"], bucket + 2 * Q - 1, 3, 10_700, 5_300)  # +500 import
    _reading(pv["thingName"], bucket + 2 * Q - 1, 3, 0, 21_000)  # nothing produced

    query = f"from={bucket}&to={bucket + 2 * Q}&resolution=15m"
    response = api.call("GET", f"/v1/sites/{site['id']}/energy?{query}", token=host)
    assert response.status_code == 200, response.body
    energy = _data(response)
    assert energy["devices"] == 2 and len(energy["intervals"]) == 2
    first = energy["intervals"][0]
    assert (first["production"], first["export"], first["import"]) == (1000, 300, 200)
    assert (first["consumption"], first["selfConsumption"]) == (900, 700)
    assert first["selfSufficiency"] == pytest.approx(700 / 900)
    second = energy["intervals"][1]
    assert (second["production"], second["import"], second["consumption"], second["selfSufficiency"]) == (
        0,
        500,
        500,
        0,
    )
    totals = energy["totals"]
    assert totals["production"] == 1000 and totals["import"] == 700 and totals["export"] == 300
    assert totals["consumption"] == 1000 + 700 - 300

    daily = _data(api.call("GET", f"/v1/sites/{site['id']}/energy?{query.replace('15m', '1d')}", token=host))
    assert len(daily["intervals"]) in (1, 2) and daily["totals"]["production"] == 1000


def test_energy_ranges_are_bounded_naming_the_parameter(api: Api) -> None:
    host = register_user(api, "host@example.com")["accessToken"]
    site = create_site(api, host)
    too_long = api.call(
        "GET",
        f"/v1/sites/{site['id']}/energy?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&resolution=15m",
        token=host,
    )
    assert too_long.status_code == 422 and _fields(too_long) == {"from"}
    future = api.call("GET", f"/v1/sites/{site['id']}/energy?to=2999-01-01T00:00:00Z", token=host)
    assert future.status_code == 422 and "to" in _fields(future)
    bad = api.call("GET", f"/v1/sites/{site['id']}/energy?resolution=5m", token=host)
    assert bad.status_code == 422 and "resolution" in _fields(bad)


# ------------------------------------------------------------------------------------ investments
def _invest(money: Money, who: Member, site_id: str, amount: int, key: str | None = None) -> Any:
    return money.call("POST", f"/v1/sites/{site_id}/investments", who, {"amount": amount, "currency": "EUR"}, key)


def test_investments_move_money_once_and_make_exact_shares(money: Money) -> None:
    host = money.member("host@example.com")
    site = create_site(money.api, host.token)
    ann, bob = money.member("ann@example.com", "investor"), money.member("bob@example.com", "investor")
    money.topup(ann, 50_000)
    money.topup(bob, 20_000)

    # Given Ann invests 30,000 with a key, and retries it
    first = _invest(money, ann, site["id"], 30_000, key="ann-1")
    assert first.status_code == 201, first.body
    again = _invest(money, ann, site["id"], 30_000, key="ann-1")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert _data(again) == _data(first)
    assert money.available(ann) == 20_000  # moved once
    # And Bob invests 10,000
    assert _invest(money, bob, site["id"], 10_000).status_code == 201
    # Then the shares are exact: 3/4 and 1/4
    listed = money.call("GET", f"/v1/sites/{site['id']}/investors", host)
    assert listed.status_code == 200, listed.body
    table = _data(listed)
    assert table["totalInvested"] == 40_000
    assert [(i["investorId"], i["invested"], i["share"], i["percent"]) for i in table["investors"]] == [
        (ann.user_id, 30_000, {"numerator": 3, "denominator": 4}, 75.0),
        (bob.user_id, 10_000, {"numerator": 1, "denominator": 4}, 25.0),
    ]
    # and an admin sees them too; another investor, the host's neighbour, nobody else
    assert money.call("GET", f"/v1/sites/{site['id']}/investors", money.admin).status_code == 200
    assert money.call("GET", f"/v1/sites/{site['id']}/investors", ann).status_code == 403
    neighbour = money.member("neighbour@example.com")
    assert money.call("GET", f"/v1/sites/{site['id']}/investors", neighbour).status_code == 404

    # The portfolio shows the site, the share, and no returns yet
    portfolio = _data(money.call("GET", "/v1/me/portfolio", ann))
    assert portfolio["sites"] == [
        {
            "siteId": site["id"],
            "name": "Roof 1",
            "kind": "solar",
            "currency": "EUR",
            "invested": 30_000,
            "share": {"numerator": 3, "denominator": 4},
            "percent": 75.0,
            "returns": 0,
        }
    ]
    # A site investors hold shares in cannot be deleted nor change currency; the ledger still verifies
    assert money.call("DELETE", f"/v1/sites/{site['id']}", host).status_code == 409
    usd = {"currency": "USD", "retailMinorPerKwh": 30, "feedInMinorPerKwh": 8}
    refused = money.call("PATCH", f"/v1/sites/{site['id']}", host, {"tariff": usd})
    assert refused.status_code == 409 and _fields(refused) == {"tariff.currency"}
    eur = {**usd, "currency": "EUR"}
    assert money.call("PATCH", f"/v1/sites/{site['id']}", host, {"tariff": eur}).status_code == 200
    assert money.verify()["ok"] is True


def test_investing_needs_funds_the_investor_role_and_the_sites_currency(money: Money) -> None:
    host = money.member("host@example.com")
    site = create_site(money.api, host.token)
    ivy = money.member("ivy@example.com", "investor")
    refused = _invest(money, ivy, site["id"], 1_000)
    assert refused.status_code == 409 and _fields(refused) == {"amount"}
    assert _data(money.call("GET", f"/v1/sites/{site['id']}/investors", host))["investors"] == []
    assert _invest(money, host, site["id"], 1_000).status_code == 403
    money.topup(ivy, 5_000)
    usd = money.call("POST", f"/v1/sites/{site['id']}/investments", ivy, {"amount": 100, "currency": "USD"})
    assert usd.status_code == 422 and _fields(usd) == {"currency"}
    zero = money.call("POST", f"/v1/sites/{site['id']}/investments", ivy, {"amount": 0})
    assert zero.status_code == 422 and _fields(zero) == {"amount"}
    nowhere = money.call("POST", "/v1/sites/01J00000000000000000000000/investments", ivy, {"amount": 100})
    assert nowhere.status_code == 404
    assert money.available(ivy) == 5_000


def test_portfolio_counts_the_sites_investor_payouts_as_returns(money: Money) -> None:
    host = money.member("host@example.com")
    site = create_site(money.api, host.token)
    ann, buyer = money.member("ann@example.com", "investor"), money.member("buyer@example.com", "consumer")
    money.topup(ann, 10_000)
    money.topup(buyer, 10_000)
    assert _invest(money, ann, site["id"], 10_000).status_code == 201
    # Given a sale of the site's energy whose investor part (35 %) goes to Ann
    sale = money.call(
        "POST",
        "/v1/admin/sales",
        money.admin,
        {
            "buyerId": buyer.user_id,
            "hostId": host.user_id,
            "siteId": site["id"],
            "gross": 1_000,
            "currency": "EUR",
            "investorShares": {ann.user_id: 1},
        },
    )
    assert sale.status_code in (200, 201), sale.body
    # Then her portfolio shows 350 returned
    (holding,) = _data(money.call("GET", "/v1/me/portfolio", ann))["sites"]
    assert holding["returns"] == 350


def test_an_investment_interrupted_after_the_money_moved_still_counts(
    money: Money, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridshare.sites.store import SiteStore

    host = money.member("host@example.com")
    site = create_site(money.api, host.token)
    ann = money.member("ann@example.com", "investor")
    money.topup(ann, 5_000)
    # Given the function dies after the ledger moved the money, before the investment is marked posted
    original = SiteStore.mark_posted

    def dies(self: SiteStore, item: Any) -> None:
        raise RuntimeError("container lost")

    monkeypatch.setattr(SiteStore, "mark_posted", dies)
    assert _invest(money, ann, site["id"], 2_000).status_code == 500
    monkeypatch.setattr(SiteStore, "mark_posted", original)
    assert money.available(ann) == 3_000
    # Then the share is there anyway: the pending record's transaction is in the ledger
    table = _data(money.call("GET", f"/v1/sites/{site['id']}/investors", host))
    assert [(i["investorId"], i["invested"]) for i in table["investors"]] == [(ann.user_id, 2_000)]
    (holding,) = _data(money.call("GET", "/v1/me/portfolio", ann))["sites"]
    assert holding["invested"] == 2_000
    # And a refused investment leaves no record behind
    assert _invest(money, ann, site["id"], 9_000).status_code == 409
    assert _data(money.call("GET", f"/v1/sites/{site['id']}/investors", host))["totalInvested"] == 2_000
