"""Real answers validate against the response models their routes declare (and the OpenAPI document).

`Api.call` checks every answer of every integration test (tests.support.contract); this file walks a
representative route of each context on purpose, so the check is seen to run on each kind of body (an
envelope, a page, a page with `meta`, a raw shape, no content, a union), and shows that it catches
drift: a field a view adds without declaring it, a documented field that goes missing, a status no one
documented.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.api import Api, create_admin, register_user
from tests.support.contract import ContractViolation, check, find_route
from tests.support.devices import create_device, ingest


def _get(api: Api, path: str, token: str | None = None) -> Any:
    response = api.call("GET", path, token=token)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def test_representative_routes_answer_what_they_declare(api: Api) -> None:
    # every call below is checked by Api.call against its route's response model and the document
    assert _get(api, "/health") == {"status": "ok"}
    assert _get(api, "/v1/openapi.json")["openapi"] == "3.1.0"
    user = register_user(api, "contract@example.com")
    token = user["accessToken"]
    assert user["refreshToken"] and user["user"]["twoFactorEnabled"] is False
    assert _get(api, "/v1/me", token)["data"]["email"] == "contract@example.com"
    patched = api.call("PATCH", "/v1/me", {"phone": "+4915112345678", "preferences": {"theme": "dark"}}, token=token)
    assert json.loads(patched.body)["data"]["phone"] == "+4915112345678"
    refreshed = api.call("POST", "/v1/auth/refresh", {"refreshToken": user["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.body

    device = create_device(api, token)
    assert "privateKey" in device
    assert _get(api, "/v1/devices", token)["pagination"]["nextCursor"] is None
    assert _get(api, f"/v1/devices/{device['id']}", token)["data"]["id"] == device["id"]
    now = int(time.time() * 1000)
    for seq, (ts, power) in enumerate([(now - 60_000, 120.5), (now - 30_000, 80)], start=1):
        message = {"ts": ts, "seq": seq, "metrics": {"power_w": power, "energy_import_wh": 1000 + seq, "leak": False}}
        assert ingest(device["thingName"], json.dumps(message)) == {"batchItemFailures": []}
    latest = _get(api, f"/v1/devices/{device['id']}/readings/latest", token)["data"]
    assert latest["metrics"]["leak"] is False and latest["units"]["power_w"] == "W"
    raw = _get(api, f"/v1/devices/{device['id']}/readings?metric=power_w", token)
    assert [p["value"] for p in raw["data"]] == [120.5, 80] and raw["meta"]["resolution"] == "raw"
    hourly = _get(api, f"/v1/devices/{device['id']}/readings?metric=energy_import_wh&resolution=1h", token)
    assert all("energyWh" in p for p in hourly["data"])

    assert _get(api, "/v1/wallet", token)["data"]["balances"][0]["available"] == 0
    assert _get(api, "/v1/wallet/transactions", token)["data"] == []
    assert _get(api, "/v1/statements", token)["data"]["statements"] == []

    create_admin()
    admin = api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"})
    admin_token = json.loads(admin.body)["data"]["accessToken"]
    assert _get(api, "/v1/users?role=prosumer", admin_token)["data"][0]["role"] == "prosumer"
    assert _get(api, "/v1/security/events", admin_token)["data"]
    assert "lockedAccounts" in _get(api, "/v1/security/dashboard", admin_token)["data"]
    assert "windowMinutes" in _get(api, "/v1/security/threats", admin_token)["meta"]
    assert _get(api, "/v1/admin/metrics", admin_token)["data"]["transactions"] == 0
    assert _get(api, "/v1/admin/ledger/verify", admin_token)["data"]["ok"] is True
    assert _get(api, "/v1/admin/withdrawals", admin_token)["data"] == []
    assert _get(api, "/v1/telemetry/dead-letters", admin_token)["data"] == []

    logout = api.call("POST", "/v1/auth/logout", token=token)
    assert (logout.status_code, logout.body) == (204, b"")


def _device_body(**changes: Any) -> bytes:
    device = {
        "id": "01JD0000000000000000000000",
        "name": "meter 1",
        "type": "meter",
        "thingName": "gs-01jd0000000000000000000000",
        "ownerId": "01JD0000000000000000000001",
        "status": "online",
        "lastSeenAt": "2026-12-02T10:05:00.000Z",
        "offlineAfterS": 180,
        "metadata": {},
        "createdAt": "2026-12-02T10:00:00.000Z",
        "topics": {"telemetry": "t", "heartbeat": "h", "commands": "c", "commandsAck": "a"},
        "firmwareVersion": "1.0.0",
        "siteId": "01JS0000000000000000000000",
        "siteRole": "grid_meter",
        **changes,
    }
    return json.dumps({"data": {k: v for k, v in device.items() if v is not None}}).encode()


JSON = {"Content-Type": "application/json"}
PROBLEM = {"Content-Type": "application/problem+json"}


@pytest.fixture(scope="module")
def declared() -> None:
    """Every route declared (the whole app and the local-only routes), without AWS: nothing is called."""
    from gridshare.app_factory import make_app
    from gridshare_local import clock_api, outbox  # noqa: F401 - their declarations fill the route table

    make_app("contract-check")


def test_the_check_accepts_a_body_as_declared(declared: None) -> None:
    route = check("GET", "/v1/devices/01JD0000000000000000000000", 200, JSON, _device_body())
    assert route is not None and route.template == "/v1/devices/{id}"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"firmware": "1.2"}, "a field no model declares"),
        ({"createdAt": None}, "a declared field missing"),
        ({"createdAt": 1796200000000}, "epoch ms where the model says ISO 8601"),
        ({"type": "toaster"}, "a value outside the declared enum"),
        ({"thing_name": "x", "thingName": None}, "snake_case instead of the camelCase alias"),
    ],
)
def test_the_check_refuses_a_body_that_drifted(declared: None, changes: dict[str, Any], why: str) -> None:
    with pytest.raises(ContractViolation):
        check("GET", "/v1/devices/01JD0000000000000000000000", 200, JSON, _device_body(**changes))


def test_the_check_refuses_undocumented_statuses_and_bodies_that_are_not_problems(declared: None) -> None:
    problem = json.dumps({"type": "https://gridshare.dev/problems/conflict", "title": "Conflict", "status": 409})
    with pytest.raises(ContractViolation, match="does not document"):
        check("GET", "/v1/devices/01JD0000000000000000000000", 409, PROBLEM, problem)
    with pytest.raises(ContractViolation, match="route declares 200"):
        check("GET", "/v1/devices/01JD0000000000000000000000", 201, JSON, _device_body())
    with pytest.raises(ContractViolation, match="not application/problem\\+json"):
        check("GET", "/v1/devices/01JD0000000000000000000000", 404, JSON, problem)
    with pytest.raises(ContractViolation, match="with a body"):
        check("POST", "/v1/auth/logout", 204, JSON, b"{}")
    # a request no route declares is not the check's business (Chalice answers it)
    assert find_route("GET", "/v1/no-such-thing") is None


def test_literal_segments_win_over_parameters(declared: None) -> None:
    route = find_route("GET", "/v1/devices/abc/readings/latest?x=1")
    assert route is not None and route.template == "/v1/devices/{id}/readings/latest"
