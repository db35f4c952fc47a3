"""Devices and telemetry through the API and the ingest function, against moto."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.conftest import Api, create_admin, register_user


def _sqs_event(thing: str, payload: bytes | str, received_at: int | None = None) -> dict[str, Any]:
    raw = payload.encode() if isinstance(payload, str) else payload
    body = {
        "payload": base64.b64encode(raw).decode(),
        "thing_name": thing,
        "received_at": received_at or int(time.time() * 1000),
    }
    return {
        "Records": [
            {
                "messageId": f"m-{time.time_ns()}",
                "receiptHandle": "rh",
                "body": json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:telemetry-ingest",
                "awsRegion": "us-east-1",
            }
        ]
    }


def _ingest(thing: str, payload: bytes | str) -> dict[str, Any]:
    from gridshare.telemetry import ingest
    from gridshare_local.lambda_runtime import LambdaContext

    ingest.telemetry_service.reset()
    return ingest.handler(_sqs_event(thing, payload), LambdaContext("ingest"))


def _device(api: Api, token: str, **body: Any) -> dict[str, Any]:
    response = api.call("POST", "/v1/devices", {"name": "meter 1", "type": "meter", **body}, token=token)
    assert response.status_code == 201, response.body
    return json.loads(response.body)["data"]


def test_provision_returns_working_credentials_and_policy(api: Api) -> None:
    import boto3

    token = register_user(api, "owner@example.com")["accessToken"]
    device = _device(api, token)
    assert device["thingName"].startswith("gs-") and "privateKey" in device
    assert device["topics"]["telemetry"] == f"gs/v1/{device['thingName']}/telemetry"
    cert = x509.load_pem_x509_certificate(device["certificatePem"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device["thingName"]
    ca = x509.load_pem_x509_certificate(device["caCertificatePem"].encode())
    assert cert.issuer == ca.subject
    iot = boto3.client("iot")
    principals = iot.list_thing_principals(thingName=device["thingName"])["principals"]
    assert len(principals) == 1
    policies = iot.list_attached_policies(target=principals[0])["policies"]
    assert [p["policyName"] for p in policies] == ["gridshare-device"]


def test_provision_with_csr_keeps_the_key_on_the_device(api: Api) -> None:
    token = register_user(api, "csr@example.com")["accessToken"]
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone-else")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    device = _device(api, token, csr=csr)
    assert "privateKey" not in device
    cert = x509.load_pem_x509_certificate(device["certificatePem"].encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    # the CSR's subject is ignored: the certificate names the thing, so it cannot impersonate another
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device["thingName"]
    bad = api.call(
        "POST",
        "/v1/devices",
        {"name": "x", "type": "meter", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"},
        token=token,
    )
    assert bad.status_code == 422 and json.loads(bad.body)["errors"][0]["field"] == "csr"


def test_devices_are_private_to_their_owner(api: Api) -> None:
    alice = register_user(api, "alice@example.com")["accessToken"]
    bob = register_user(api, "bob@example.com", role="consumer")["accessToken"]
    device = _device(api, alice)
    assert api.call("GET", f"/v1/devices/{device['id']}", token=alice).status_code == 200
    assert api.call("GET", f"/v1/devices/{device['id']}", token=bob).status_code == 404
    assert api.call("GET", f"/v1/devices/{device['id']}/readings/latest", token=bob).status_code == 404
    assert json.loads(api.call("GET", "/v1/devices", token=bob).body)["data"] == []
    create_admin()
    admin = json.loads(
        api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}).body
    )
    listed = json.loads(api.call("GET", "/v1/devices", token=admin["data"]["accessToken"]).body)["data"]
    assert [d["id"] for d in listed] == [device["id"]]


def test_device_list_paginates_with_cursor(api: Api) -> None:
    token = register_user(api, "many@example.com")["accessToken"]
    ids = {_device(api, token, name=f"m{i}")["id"] for i in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        path = "/v1/devices?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = json.loads(api.call("GET", path, token=token).body)
        seen += [d["id"] for d in body["data"]]
        cursor = body["pagination"]["nextCursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    assert api.call("GET", "/v1/devices?cursor=forged", token=token).status_code == 400


def test_ingest_stores_rolls_up_dead_letters_and_is_idempotent(api: Api) -> None:
    token = register_user(api, "meter@example.com")["accessToken"]
    device = _device(api, token)
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
        assert _ingest(thing, json.dumps(message)) == {"batchItemFailures": []}
    # When one is delivered twice, and invalid ones arrive
    _ingest(
        thing,
        json.dumps(
            {"ts": base, "seq": 0, "metrics": {"power_w": 1000, "voltage_v": 230.0, "energy_import_wh": 10_000}}
        ),
    )
    _ingest(thing, json.dumps({"ts": now, "seq": 99, "metrics": {"voltage_v": 5000}}))
    _ingest(thing, b"\xff\xfenot json")
    _ingest("gs-unknown", json.dumps({"ts": now, "seq": 1, "metrics": {"power_w": 1}}))

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
    device = _device(api, token)
    now = int(time.time() * 1000)
    _ingest(device["thingName"] + "x", json.dumps({"ts": now, "seq": 1, "metrics": {"power_w": 5}}))
    letter = json.loads(api.call("GET", "/v1/telemetry/dead-letters", token=admin_token).body)["data"][0]
    # When replayed while still invalid: 422 and the letter stays open
    assert api.call("POST", f"/v1/telemetry/dead-letters/{letter['id']}/replay", token=admin_token).status_code == 422
    assert api.call("POST", "/v1/telemetry/dead-letters/nope/replay", token=admin_token).status_code == 404
    assert api.call("POST", f"/v1/telemetry/dead-letters/{letter['id']}/replay", token=token).status_code == 403


def test_history_validates_its_query(api: Api) -> None:
    token = register_user(api, "q@example.com")["accessToken"]
    device = _device(api, token)
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
    device = _device(api, token)
    record = DeviceModel.get(device["id"])
    record.delete()
    now = int(time.time() * 1000)
    _ingest(device["thingName"], json.dumps({"ts": now, "seq": 7, "metrics": {"power_w": 42.0}}))
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

    event = _sqs_event("ignored", "{}")
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
