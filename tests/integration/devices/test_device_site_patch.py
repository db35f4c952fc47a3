"""PATCH /v1/devices/{id} with siteId against moto: attach, move, detach through the devices route, which
calls the sites service in-process (docs/devices.md, decision 0012); GET shows the site."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.sites.test_sites_api import create_site
from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _patch(api: Api, token: str, device_id: str, body: dict[str, Any]) -> Any:
    return api.call("PATCH", f"/v1/devices/{device_id}", body, token=token)


def _site_devices(api: Api, token: str, site_id: str) -> int:
    """How many devices the site's energy sums (the sites route has no device listing)."""
    response = api.call("GET", f"/v1/sites/{site_id}/energy", token=token)
    assert response.status_code == 200, response.body
    return int(_data(response)["devices"])


def test_patch_attaches_moves_and_detaches_a_device(api: Api) -> None:
    host = register_user(api, "host@example.com")["accessToken"]
    site, second = create_site(api, host), create_site(api, host, name="Roof 2")
    inverter = create_device(api, host, type="inverter")
    assert _data(api.call("GET", f"/v1/devices/{inverter['id']}", token=host))["siteId"] is None

    # attach: the role defaults by type (an inverter produces); the name changes in the same request
    attached = _patch(api, host, inverter["id"], {"siteId": site["id"], "name": "south inverter"})
    assert attached.status_code == 200, attached.body
    device = _data(attached)
    assert (device["siteId"], device["siteRole"], device["name"]) == (site["id"], "production", "south inverter")
    assert _data(api.call("GET", f"/v1/devices/{inverter['id']}", token=host))["siteId"] == site["id"]
    assert _site_devices(api, host, site["id"]) == 1

    # the same site again keeps the role unless one is named
    assert _data(_patch(api, host, inverter["id"], {"siteId": site["id"]}))["siteRole"] == "production"
    assert _data(_patch(api, host, inverter["id"], {"siteId": site["id"], "siteRole": "storage"}))["siteRole"] == (
        "storage"
    )

    # move: PATCH sets the device's site, so another site takes it from the first (PUT on sites answers 409)
    moved = _data(_patch(api, host, inverter["id"], {"siteId": second["id"]}))
    assert (moved["siteId"], moved["siteRole"]) == (second["id"], "production")
    assert _site_devices(api, host, site["id"]) == 0
    assert _site_devices(api, host, second["id"]) == 1

    # detach: null; again is a no-op
    for _ in range(2):
        detached = _patch(api, host, inverter["id"], {"siteId": None})
        assert detached.status_code == 200, detached.body
        assert (_data(detached)["siteId"], _data(detached)["siteRole"]) == (None, None)
    assert _site_devices(api, host, second["id"]) == 0
    # a PATCH without siteId leaves the site alone
    _patch(api, host, inverter["id"], {"siteId": site["id"]})
    assert _data(_patch(api, host, inverter["id"], {"name": "x"}))["siteId"] == site["id"]


@pytest.mark.parametrize(
    ("kind", "role"), [("meter", "grid_meter"), ("battery", "storage"), ("gas_sensor", "consumption")]
)
def test_the_default_role_follows_the_device_type(api: Api, kind: str, role: str) -> None:
    host = register_user(api, "host@example.com")["accessToken"]
    site = create_site(api, host)
    device = create_device(api, host, type=kind)
    assert _data(_patch(api, host, device["id"], {"siteId": site["id"]}))["siteRole"] == role


def test_another_users_site_or_device_is_404_and_nothing_changes(api: Api) -> None:
    host = register_user(api, "host@example.com")["accessToken"]
    other = register_user(api, "other@example.com")["accessToken"]
    site, theirs = create_site(api, host), create_site(api, other)
    meter = create_device(api, host, name="meter 1")
    response = _patch(api, host, meter["id"], {"siteId": theirs["id"], "name": "renamed"})
    assert response.status_code == 404, response.body
    assert _patch(api, host, meter["id"], {"siteId": "no-such-site"}).status_code == 404
    got = _data(api.call("GET", f"/v1/devices/{meter['id']}", token=host))
    assert (got["siteId"], got["name"]) == (None, "meter 1")
    # someone else's device: 404 before any site is looked at
    assert _patch(api, other, meter["id"], {"siteId": theirs["id"]}).status_code == 404
    assert _patch(api, other, meter["id"], {"siteId": None}).status_code == 404
    assert _site_devices(api, host, site["id"]) == 0


def test_an_admin_attaches_a_users_device_only_to_that_users_site(api: Api) -> None:
    create_admin()
    admin = _data(api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}))
    host = register_user(api, "host@example.com")["accessToken"]
    other = register_user(api, "other@example.com")["accessToken"]
    site, theirs = create_site(api, host), create_site(api, other)
    meter = create_device(api, host)
    token = admin["accessToken"]
    assert _data(_patch(api, token, meter["id"], {"siteId": site["id"]}))["siteId"] == site["id"]
    refused = _patch(api, token, meter["id"], {"siteId": theirs["id"]})
    assert refused.status_code == 409 and [e["field"] for e in json.loads(refused.body)["errors"]] == ["siteId"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"siteId": ""}, "siteId"),
        ({"siteId": "x", "siteRole": "toaster"}, "siteRole"),
        ({"siteRole": "storage"}, "siteRole"),
        ({"siteId": None, "siteRole": "storage"}, "siteRole"),
    ],
)
def test_a_bad_site_patch_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    token = register_user(api, "owner@example.com")["accessToken"]
    meter = create_device(api, token)
    response = _patch(api, token, meter["id"], body)
    assert response.status_code == 422, response.body
    assert [e["field"] for e in json.loads(response.body)["errors"]] == [field]
