"""Devices and telemetry through the API and the ingest function, against moto."""

from __future__ import annotations

import json
import time

from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device, ingest, sqs_event


def test_ingest_stores_rolls_up_dead_letters_and_is_idempotent(api: Api) -> None:
    token = register_user(api, "meter@example.com")["accessToken"]
    device = create_device(api, token)
    thing = device["thingName"]
    now = int(time.time() * 1000)
    base = now - 3 * 3_600_000
    # Given readings every 15 minutes for 3 hours with a cumulative import counter
    for i in range(13):
        message = {
            "ts": base + i * 900_000,
            "seq": i,
            "metrics": {"power_w": 1000 + i, "voltage_v": 230.0, "energy_import_wh": 10_000 + i * 250},
        }
        assert ingest(thing, json.dumps(message)) == {"batchItemFailures": []}
    # When one is delivered twice, and invalid ones arrive
    ingest(
        thing,
        json.dumps(
            {"ts": base, "seq": 0, "metrics": {"power_w": 1000, "voltage_v": 230.0, "energy_import_wh": 10_000}}
        ),
    )
    ingest(thing, json.dumps({"ts": now, "seq": 99, "metrics": {"voltage_v": 5000}}))
    ingest(thing, b"\xff\xfenot json")
    ingest("gs-unknown", json.dumps({"ts": now, "seq": 1, "metrics": {"power_w": 1}}))

    latest = json.loads(api.call("GET", f"/v1/devices/{device['id']}/readings/latest", token=token).body)["data"]
    assert latest["seq"] == 12 and latest["metrics"]["energy_import_wh"] == 13_000
    assert latest["units"]["power_w"] == "W"

    raw = json.loads(
        api.call(
            "GET", f"/v1/devices/{device['id']}/readings?metric=power_w&from={base}&to={now + 1}", token=token
        ).body
    )
    assert [p["value"] for p in raw["data"]] == [1000 + i for i in range(13)]  # the duplicate stored once

    hourly = json.loads(
        api.call(
            "GET",
            f"/v1/devices/{device['id']}/readings?metric=energy_import_wh&from={base - 3_600_000}&to={now + 1}"
            "&resolution=1h",
            token=token,
        ).body
    )["data"]
    assert sum(p["energyWh"] for p in hourly) == 12 * 250
    quarter = json.loads(
        api.call(
            "GET",
            f"/v1/devices/{device['id']}/readings?metric=power_w&from={base - 3_600_000}&to={now + 1}&resolution=15m",
            token=token,
        ).body
    )["data"]
    assert sum(p["count"] for p in quarter) == 13

    # Then the invalid messages are dead letters with every reason, visible to admins only
    assert api.call("GET", "/v1/telemetry/dead-letters", token=token).status_code == 403
    create_admin()
    admin = json.loads(
        api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}).body
    )
    admin_token = admin["data"]["accessToken"]
    letters = json.loads(api.call("GET", "/v1/telemetry/dead-letters", token=admin_token).body)["data"]
    fields = sorted(r["field"] for letter in letters for r in letter["reasons"])
    assert "metrics.voltage_v" in fields and "$" in fields and "thingName" in fields
    assert len(letters) == 3


def test_replay_after_the_cause_is_fixed(api: Api) -> None:
    # Given a message from a device that was not registered yet
    token = register_user(api, "late@example.com")["accessToken"]
    create_admin()
    admin = json.loads(
        api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}).body
    )
    admin_token = admin["data"]["accessToken"]
    device = create_device(api, token)
    now = int(time.time() * 1000)
    ingest(device["thingName"] + "x", json.dumps({"ts": now, "seq": 1, "metrics": {"power_w": 5}}))
    letter = json.loads(api.call("GET", "/v1/telemetry/dead-letters", token=admin_token).body)["data"][0]
    # When replayed while still invalid: 422 and the letter stays open
    assert api.call("POST", f"/v1/telemetry/dead-letters/{letter['id']}/replay", token=admin_token).status_code == 422
    assert api.call("POST", "/v1/telemetry/dead-letters/nope/replay", token=admin_token).status_code == 404
    assert api.call("POST", f"/v1/telemetry/dead-letters/{letter['id']}/replay", token=token).status_code == 403


def test_history_validates_its_query(api: Api) -> None:
    token = register_user(api, "q@example.com")["accessToken"]
    device = create_device(api, token)
    bad = api.call("GET", f"/v1/devices/{device['id']}/readings?metric=power_w&resolution=5m", token=token)
    assert bad.status_code == 422 and json.loads(bad.body)["errors"][0]["field"] == "resolution"
    unknown = api.call("GET", f"/v1/devices/{device['id']}/readings?metric=bogus", token=token)
    assert unknown.status_code == 422 and json.loads(unknown.body)["errors"][0]["field"] == "metric"
    bad_time = api.call("GET", f"/v1/devices/{device['id']}/readings?metric=power_w&from=yesterday", token=token)
    assert bad_time.status_code == 422 and json.loads(bad_time.body)["errors"][0]["field"] == "from"


def test_replay_stores_a_message_once_its_device_is_known(api: Api) -> None:
    from gridshare.devices.models import DeviceModel

    # Given a reading that arrived while the device's record was not written yet (provisioning race)
    token = register_user(api, "race@example.com")["accessToken"]
    create_admin()
    admin = json.loads(
        api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}).body
    )["data"]["accessToken"]
    device = create_device(api, token)
    record = DeviceModel.get(device["id"])
    record.delete()
    now = int(time.time() * 1000)
    ingest(device["thingName"], json.dumps({"ts": now, "seq": 7, "metrics": {"power_w": 42.0}}))
    letter = json.loads(api.call("GET", "/v1/telemetry/dead-letters", token=admin).body)["data"][0]
    assert letter["reasons"][0]["field"] == "thingName"

    # When the record exists and an admin replays the dead letter
    record.save()
    replayed = api.call("POST", f"/v1/telemetry/dead-letters/{letter['id']}/replay", token=admin)

    # Then the reading is stored, the letter is closed, and a second replay is refused
    assert replayed.status_code == 200, replayed.body
    assert json.loads(replayed.body)["data"]["status"] == "replayed"
    latest = json.loads(api.call("GET", f"/v1/devices/{device['id']}/readings/latest", token=token).body)["data"]
    assert latest["seq"] == 7 and latest["metrics"] == {"power_w": 42.0}
    assert api.call("POST", f"/v1/telemetry/dead-letters/{letter['id']}/replay", token=admin).status_code == 409
    assert json.loads(api.call("GET", "/v1/telemetry/dead-letters", token=admin).body)["data"] == []


def test_an_sqs_body_that_is_not_the_rule_projection_is_dead_lettered_once(api: Api) -> None:
    from gridshare.telemetry import ingest
    from gridshare_local.lambda_runtime import LambdaContext

    event = sqs_event("ignored", "{}")
    event["Records"][0]["body"] = "hello"
    event["Records"][0]["attributes"] = {"SentTimestamp": "1795480000000"}
    ingest.telemetry_service.reset()
    assert ingest.handler(event, LambdaContext("ingest")) == {"batchItemFailures": []}
    assert ingest.handler(event, LambdaContext("ingest")) == {"batchItemFailures": []}  # redelivered
    create_admin()
    admin = json.loads(
        api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}).body
    )["data"]["accessToken"]
    letters = json.loads(api.call("GET", "/v1/telemetry/dead-letters", token=admin).body)["data"]
    assert len(letters) == 1 and letters[0]["payload"] == "hello"
    assert "projection" in letters[0]["reasons"][0]["message"]
    missing = api.call("GET", "/v1/devices/01J00000000000000000000000", token=admin)
    assert json.loads(missing.body)["instance"] == "/v1/devices/01J00000000000000000000000"
