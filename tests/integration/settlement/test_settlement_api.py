"""Settlement routes through the API: an admin starts a run (202, the execution named by the run id), the
state machine settles it, admins and operators read runs; bad windows are 422 naming the field; other
roles 403; an unknown run 404."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.kernel import clock
from gridshare.market.rules import interval_iso
from tests.support.api import Api, create_admin, register_user
from tests.support.settlement import INTERVAL, T0, Market, finished, put_rollup

ADMIN, ADMIN_PASSWORD = "admin@example.com", "Adm1nPassw0rd"


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _fields(response: Any) -> set[str]:
    return {e["field"] for e in json.loads(response.body).get("errors", [])}


@pytest.fixture
def tokens(api: Api) -> Iterator[dict[str, str]]:
    create_admin(ADMIN, ADMIN_PASSWORD)
    admin = _data(api.call("POST", "/v1/auth/login", {"email": ADMIN, "password": ADMIN_PASSWORD}))["accessToken"]
    registered = register_user(api, "op@example.com", "prosumer", "Passw0rd!x")
    promoted = api.call("PATCH", f"/v1/users/{registered['user']['id']}", {"role": "operator"}, token=admin)
    assert promoted.status_code == 200, promoted.body  # a role change revokes the old tokens: log in again
    login = {"email": "op@example.com", "password": "Passw0rd!x"}
    operator = _data(api.call("POST", "/v1/auth/login", login))["accessToken"]
    prosumer = register_user(api, "pro@example.com", "prosumer")["accessToken"]
    yield {"admin": admin, "operator": operator, "prosumer": prosumer}


def window(start: int, end: int) -> dict[str, str]:
    return {"from": interval_iso(start), "to": interval_iso(end)}


def test_bad_windows_are_422_naming_the_field(api: Api, tokens: dict[str, str]) -> None:
    now = clock.now_ms() // INTERVAL * INTERVAL
    cases = [
        ({"from": "2026-12-03T10:07:00Z", "to": interval_iso(now)}, "from"),
        ({"from": "yesterday", "to": interval_iso(now)}, "from"),
        ({"from": interval_iso(now - INTERVAL), "to": "2026-12-03T10:00:00"}, "to"),  # no offset
        (window(now - INTERVAL, now - INTERVAL), "to"),  # empty
        (window(now - 8 * 86_400_000, now), "to"),  # longer than 7 days
        (window(now, now + INTERVAL), "to"),  # not delivered yet
        ({"to": interval_iso(now)}, "from"),
    ]
    for body, field in cases:
        response = api.call("POST", "/v1/settlements", body, token=tokens["admin"])
        assert response.status_code == 422, (body, response.body)
        assert field in _fields(response), (body, response.body)


def test_only_admins_start_runs_and_only_admins_and_operators_read_them(api: Api, tokens: dict[str, str]) -> None:
    now = clock.now_ms() // INTERVAL * INTERVAL
    body = window(now - INTERVAL, now)
    for role in ("operator", "prosumer"):
        assert api.call("POST", "/v1/settlements", body, token=tokens[role]).status_code == 403
    assert api.call("GET", "/v1/settlements", token=tokens["prosumer"]).status_code == 403
    assert api.call("GET", "/v1/settlements/01J00000000000000000000000", token=tokens["prosumer"]).status_code == 403
    missing = api.call("GET", "/v1/settlements/01J00000000000000000000000", token=tokens["operator"])
    assert missing.status_code == 404
    assert api.call("POST", "/v1/settlements", body).status_code == 401


@pytest.mark.usefixtures("settlement_sfn")
def test_an_admin_starts_a_run_that_the_state_machine_settles(api: Api, tokens: dict[str, str]) -> None:
    with clock.frozen(T0 - 20 * 60_000) as frozen:
        market = Market()
        market.site("sun", "alice")
        market.site("shop", "bob", role="consumption")
        frozen.set(T0 + INTERVAL + 60_000)
    put_rollup("meter-sun", T0, export_wh=2_000)
    put_rollup("meter-shop", T0, import_wh=500)
    response = api.call("POST", "/v1/settlements", window(T0, T0 + INTERVAL), token=tokens["admin"])
    assert response.status_code == 202, response.body
    started = _data(response)
    assert started["status"] == "pending" and started["executionArn"].endswith(":" + started["id"])
    assert finished(started["executionArn"])["status"] == "SUCCEEDED"
    run = _data(api.call("GET", f"/v1/settlements/{started['id']}", token=tokens["operator"]))
    assert (run["status"], run["intervals"], run["failure"]) == ("settled", 1, None)
    assert {p["kind"] for p in run["postingList"]} == {"mint", "feed_in"}  # nobody traded: the grid buys it
    assert run["totals"]["feed_in"]["KWH"] == 2_000 and run["startedAt"] and run["finishedAt"]
    listed = json.loads(api.call("GET", "/v1/settlements?limit=1", token=tokens["admin"]).body)
    assert [r["id"] for r in listed["data"]] == [started["id"]]


def test_provisioning_makes_the_state_machine_from_the_same_file_and_tells_the_functions(aws: dict[str, str]) -> None:
    import boto3

    from gridshare_local.provision import SETTLEMENT_BUCKET, SETTLEMENT_FUNCTIONS, settlement_definition

    definition = json.loads(settlement_definition("us-east-1"))
    prepare = definition["States"]["Prepare"]["Parameters"]["FunctionName"]
    assert (
        prepare.endswith(":function:gridshare-settlement-prepare")
        and "gridshare-settlement-prepare" in SETTLEMENT_FUNCTIONS
    )
    assert definition["States"]["SettleShards"]["ItemReader"]["Parameters"]["Bucket"] == SETTLEMENT_BUCKET
    assert aws["GS_SETTLEMENT_BUCKET"] == SETTLEMENT_BUCKET
    described = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=aws["GS_SETTLEMENT_STATE_MACHINE_ARN"]
    )
    assert json.loads(described["definition"]) == definition
    boto3.client("s3").head_bucket(Bucket=SETTLEMENT_BUCKET)


@pytest.mark.usefixtures("settlement_sfn")
def test_a_run_settles_what_the_meter_reported_through_ingest(
    api: Api, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The readings path (decision 0016's default): a meter's counter readings through the ingest Lambda;
    the run mints exactly the export the readings history shows for the interval."""
    from gridshare.sites.store import SiteStore
    from gridshare.telemetry.service import telemetry_service
    from tests.support.devices import create_device, ingest
    from tests.support.settlement import run_to_end

    monkeypatch.setenv("GS_TELEMETRY_WRITE_PATH", "raw")
    telemetry_service.reset()
    host = register_user(api, "host@example.com", "prosumer")
    device = create_device(api, host["accessToken"])
    with clock.frozen(T0 + 60_000) as frozen:
        market = Market()
        site = market.site("plant", host["user"]["id"])
        SiteStore().attach(site, device["id"], "production", T0)
        for minute, counter in ((1, 10_000), (5, 10_400), (10, 11_000), (14, 11_700)):
            frozen.set(T0 + minute * 60_000)
            reading = {"ts": T0 + minute * 60_000, "seq": minute, "metrics": {"energy_export_wh": counter}}
            assert ingest(device["thingName"], json.dumps(reading)) == {"batchItemFailures": []}
        frozen.set(T0 + INTERVAL + 60_000)
        shown = telemetry_service().energy_buckets(device["id"], "15m", T0, T0 + INTERVAL)[T0]["energy_export_wh"]
        described, run = run_to_end(T0, T0 + INTERVAL)
    assert described["status"] == "SUCCEEDED", described
    (mint,) = [p for p in run["postingList"] if p["kind"] == "mint"]
    assert shown == 1_700 and {e["amount"] for e in mint["entries"]} == {shown, -shown}
