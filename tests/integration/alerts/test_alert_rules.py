"""Alert rules through the API against moto: create per kind (a 422 names the field), list with defaults,
read, change, delete (not the leak default), test notifications, and who may do what."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.alerts.rule_service import RuleService, rule_service
from tests.support.alerts import RecordingPublisher
from tests.support.api import Api, register_user
from tests.support.devices import create_device


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _fields(response: Any) -> list[str]:
    return sorted(e["field"] for e in json.loads(response.body).get("errors", []))


@pytest.fixture
def published(aws: dict[str, str]) -> Iterator[RecordingPublisher]:
    publisher = RecordingPublisher()
    with rule_service.override(RuleService(publisher=publisher)):
        yield publisher


@pytest.fixture
def owner(api: Api) -> str:
    return str(register_user(api, "owner@example.com")["accessToken"])


def test_defaults_appear_in_the_list_and_the_leak_default_cannot_be_deleted(
    api: Api, owner: str, published: RecordingPublisher
) -> None:
    sensor = create_device(api, owner, name="tank", type="gas_sensor")
    meter = create_device(api, owner, name="meter", type="meter")
    response = api.call("GET", "/v1/alert-rules", token=owner)
    assert response.status_code == 200, response.body
    rules = {r["id"]: r for r in _data(response)}
    assert set(rules) == {f"leak-{sensor['id']}", f"offline-{sensor['id']}", f"offline-{meter['id']}"}
    leak = rules[f"leak-{sensor['id']}"]
    assert leak["severity"] == "critical" and leak["default"] and not leak["deletable"]
    assert rules[f"offline-{meter['id']}"]["severity"] == "warning"
    # by device
    only = _data(api.call("GET", f"/v1/alert-rules?deviceId={meter['id']}", token=owner))
    assert [r["id"] for r in only] == [f"offline-{meter['id']}"]
    # editable
    patched = api.call("PATCH", f"/v1/alert-rules/leak-{sensor['id']}", {"channels": ["sms"], "forS": 5}, token=owner)
    assert patched.status_code == 200, patched.body
    assert _data(patched)["channels"] == ["sms"] and _data(patched)["forS"] == 5
    # the leak default is not deletable: 409 naming it
    refused = api.call("DELETE", f"/v1/alert-rules/leak-{sensor['id']}", token=owner)
    assert refused.status_code == 409 and f"leak-{sensor['id']}" in refused.body.decode()
    # the offline default is; it does not come back
    assert api.call("DELETE", f"/v1/alert-rules/offline-{meter['id']}", token=owner).status_code == 204
    assert api.call("GET", f"/v1/alert-rules/offline-{meter['id']}", token=owner).status_code == 404
    again = {r["id"] for r in _data(api.call("GET", f"/v1/alert-rules?deviceId={meter['id']}", token=owner))}
    assert again == set()


def test_a_default_rule_is_readable_before_anything_listed_it(api: Api, owner: str, published: Any) -> None:
    meter = create_device(api, owner, name="meter", type="meter")
    response = api.call("GET", f"/v1/alert-rules/offline-{meter['id']}", token=owner)
    assert response.status_code == 200, response.body
    assert _data(response)["kind"] == "offline"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "threshold"}, ["metric", "operator", "threshold"]),
        ({"kind": "threshold", "metric": "gas_level_pct", "operator": "<", "threshold": 1}, ["metric"]),
        ({"kind": "leak"}, ["deviceId"]),
        ({"kind": "offline", "threshold": 3}, ["threshold"]),
        ({"kind": "offline", "forS": 30}, ["forS"]),
        ({"kind": "low_level", "threshold": 10}, ["deviceId"]),
        ({"kind": "generation_drop", "operator": "<"}, ["operator"]),
        ({"kind": "kaput"}, ["kind"]),
    ],
)
def test_a_rule_invalid_for_its_kind_is_422_naming_the_field(
    api: Api, owner: str, published: Any, body: dict[str, Any], fields: list[str]
) -> None:
    meter = create_device(api, owner, name="meter", type="meter")
    response = api.call("POST", "/v1/alert-rules", {"name": "r", "deviceId": meter["id"], **body}, token=owner)
    assert response.status_code == 422, response.body
    assert _fields(response) == fields


def test_request_shape_errors_name_the_field(api: Api, owner: str, published: Any) -> None:
    meter = create_device(api, owner, name="meter", type="meter")
    base = {"name": "r", "deviceId": meter["id"], "kind": "offline"}
    for extra, field in (
        ({"forS": -1}, "forS"),
        ({"channels": ["fax"]}, "channels"),
        ({"severity": "huge"}, "severity"),
        ({"operator": "=="}, "operator"),
    ):
        response = api.call("POST", "/v1/alert-rules", {**base, **extra}, token=owner)
        assert response.status_code == 422, response.body
        assert any(field in f for f in _fields(response)), (field, response.body)
    neither = api.call("POST", "/v1/alert-rules", {"name": "r", "kind": "offline"}, token=owner)
    assert neither.status_code == 422 and _fields(neither) == ["deviceId"]


def test_create_read_change_delete_and_test_a_threshold_rule(
    api: Api, owner: str, published: RecordingPublisher
) -> None:
    meter = create_device(api, owner, name="meter", type="meter")
    body = {
        "name": "high import",
        "deviceId": meter["id"],
        "kind": "threshold",
        "metric": "power_w",
        "operator": ">=",
        "threshold": 7000.5,
        "forS": 120,
        "severity": "info",
        "channels": ["websocket", "email"],
    }
    created = api.call("POST", "/v1/alert-rules", body, token=owner)
    assert created.status_code == 201, created.body
    rule = _data(created)
    assert rule["channels"] == ["email", "websocket"] and rule["threshold"] == 7000.5 and rule["deletable"]
    assert _data(api.call("GET", f"/v1/alert-rules/{rule['id']}", token=owner)) == rule
    bad = api.call("PATCH", f"/v1/alert-rules/{rule['id']}", {"metric": "soc_pct"}, token=owner)
    assert bad.status_code == 422 and _fields(bad) == ["metric"]
    changed = _data(api.call("PATCH", f"/v1/alert-rules/{rule['id']}", {"threshold": 100}, token=owner))
    assert changed["threshold"] == 100 and changed["operator"] == ">="
    tested = api.call("POST", f"/v1/alert-rules/{rule['id']}/test", token=owner)
    assert tested.status_code == 202, tested.body
    (event,) = published.of("AlertOpened")
    assert event["alert"]["test"] is True and event["channels"] == ["email", "websocket"]
    assert event["occurrence"].startswith("test-") and event["alert"]["ruleId"] == rule["id"]
    assert api.call("DELETE", f"/v1/alert-rules/{rule['id']}", token=owner).status_code == 204
    assert api.call("GET", f"/v1/alert-rules/{rule['id']}", token=owner).status_code == 404


def test_a_site_rule_on_a_site_the_caller_owns(api: Api, owner: str, published: Any) -> None:
    site = api.call(
        "POST",
        "/v1/sites",
        {
            "name": "roof",
            "kind": "solar",
            "capacityKw": 5,
            "location": {"lat": 48.1, "lon": 11.6},
            "timezone": "Europe/Berlin",
            "tariff": {"currency": "EUR", "retailMinorPerKwh": 30, "feedInMinorPerKwh": 8},
        },
        token=owner,
    )
    assert site.status_code == 201, site.body
    site_id = _data(site)["id"]
    body = {"name": "low soc", "siteId": site_id, "kind": "threshold", "metric": "soc_pct", "operator": "<"}
    created = api.call("POST", "/v1/alert-rules", {**body, "threshold": 10}, token=owner)
    assert created.status_code == 201, created.body
    assert _data(created)["siteId"] == site_id and _data(created)["deviceId"] is None
    other = register_user(api, "other@example.com")["accessToken"]
    assert api.call("POST", "/v1/alert-rules", {**body, "threshold": 10}, token=other).status_code == 404


def test_another_users_device_rules_are_404(api: Api, owner: str, published: Any) -> None:
    meter = create_device(api, owner, name="meter", type="meter")
    other = register_user(api, "other@example.com")["accessToken"]
    body = {"name": "r", "deviceId": meter["id"], "kind": "offline"}
    assert api.call("POST", "/v1/alert-rules", body, token=other).status_code == 404
    assert api.call("GET", f"/v1/alert-rules?deviceId={meter['id']}", token=other).status_code == 404
    rule = _data(api.call("POST", "/v1/alert-rules", body, token=owner))
    for method, path in (
        ("GET", f"/v1/alert-rules/{rule['id']}"),
        ("PATCH", f"/v1/alert-rules/{rule['id']}"),
        ("DELETE", f"/v1/alert-rules/{rule['id']}"),
        ("POST", f"/v1/alert-rules/{rule['id']}/test"),
        ("GET", f"/v1/alert-rules/offline-{meter['id']}"),
    ):
        response = api.call(method, path, {} if method == "PATCH" else None, token=other)
        assert response.status_code == 404, (method, path, response.body)
    assert [r["id"] for r in _data(api.call("GET", "/v1/alert-rules", token=other))] == []


def test_the_rule_list_pages_with_a_cursor(api: Api, owner: str, published: Any) -> None:
    for i in range(3):
        create_device(api, owner, name=f"m{i}", type="meter")
    first = json.loads(api.call("GET", "/v1/alert-rules?limit=2", token=owner).body)
    assert len(first["data"]) == 2 and first["pagination"]["nextCursor"]
    cursor = first["pagination"]["nextCursor"]
    second = json.loads(api.call("GET", f"/v1/alert-rules?limit=2&cursor={cursor}", token=owner).body)
    ids = [r["id"] for r in first["data"] + second["data"]]
    assert len(ids) == len(set(ids)) == 3


def test_a_device_registered_after_a_listing_gets_its_defaults_on_the_next(
    api: Api, owner: str, published: Any
) -> None:
    assert _data(api.call("GET", "/v1/alert-rules", token=owner)) == []
    sensor = create_device(api, owner, name="tank", type="gas_sensor")
    ids = {r["id"] for r in _data(api.call("GET", "/v1/alert-rules", token=owner))}
    assert ids == {f"leak-{sensor['id']}", f"offline-{sensor['id']}"}
