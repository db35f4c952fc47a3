"""Device certificates (rotation, list, revocation) and decommissioning through the API, against moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
from cryptography import x509

from gridshare.devices.certificates import MAX_ACTIVE
from gridshare.kernel.clock import now_ms
from tests.support.api import Api, register_user
from tests.support.devices import create_device, ingest


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _certificates(api: Api, token: str, device_id: str) -> list[dict[str, Any]]:
    response = api.call("GET", f"/v1/devices/{device_id}/certificates", token=token)
    assert response.status_code == 200, response.body
    return list(_data(response))


def test_rotation_issues_another_active_certificate_bound_to_the_thing(api: Api) -> None:
    token = register_user(api, "rotate@example.com")["accessToken"]
    device = create_device(api, token)
    # Given a device with its provisioning certificate
    [first] = _certificates(api, token, device["id"])
    assert first["id"] == device["certificateId"] and first["status"] == "active" and first["revokedAt"] is None
    not_after = x509.load_pem_x509_certificate(device["certificatePem"].encode()).not_valid_after_utc
    assert first["expiresAt"] == not_after.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    # When the owner asks for another
    issued = api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token)
    assert issued.status_code == 201, issued.body
    new = _data(issued)
    # Then it comes with its key (once), names the thing, and is attached to the thing with the device policy
    assert new["status"] == "active" and "privateKey" in new and new["mqtt"]["clientId"] == device["thingName"]
    cert = x509.load_pem_x509_certificate(new["certificatePem"].encode())
    assert cert.subject.rfc4514_string() == f"CN={device['thingName']}"
    iot = boto3.client("iot")
    principals = iot.list_thing_principals(thingName=device["thingName"])["principals"]
    assert len(principals) == 2
    for principal in principals:
        assert [p["policyName"] for p in iot.list_attached_policies(target=principal)["policies"]] == [
            "gridshare-device"
        ]
    # And the list shows both, without any PEM or key
    listed = _certificates(api, token, device["id"])
    assert [c["id"] for c in listed] == [first["id"], new["id"]]
    assert all(set(c) == {"id", "deviceId", "status", "createdAt", "expiresAt", "revokedAt"} for c in listed)


def test_active_certificates_are_bounded_and_revocation_frees_a_slot(api: Api) -> None:
    token = register_user(api, "bound@example.com")["accessToken"]
    device = create_device(api, token)
    for _ in range(MAX_ACTIVE - 1):
        assert api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token).status_code == 201
    refused = api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token)
    assert refused.status_code == 409
    problem = json.loads(refused.body)
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert str(MAX_ACTIVE) in problem["detail"] and problem["errors"][0]["field"] == "certificates"

    # When one is revoked (twice: the second changes nothing)
    path = f"/v1/devices/{device['id']}/certificates/{device['certificateId']}"
    assert api.call("DELETE", path, token=token).status_code == 204
    assert api.call("DELETE", path, token=token).status_code == 204
    # Then IoT has it REVOKED, detached from the thing and the policy
    iot = boto3.client("iot")
    described = iot.describe_certificate(certificateId=device["certificateId"])["certificateDescription"]
    assert described["status"] == "REVOKED"
    arn = described["certificateArn"]
    assert arn not in iot.list_thing_principals(thingName=device["thingName"])["principals"]
    assert iot.list_attached_policies(target=arn)["policies"] == []
    revoked = next(c for c in _certificates(api, token, device["id"]) if c["id"] == device["certificateId"])
    assert revoked["status"] == "revoked" and revoked["revokedAt"] is not None
    # And a slot is free again
    assert api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token).status_code == 201
    missing = api.call("DELETE", f"/v1/devices/{device['id']}/certificates/nope", token=token)
    assert missing.status_code == 404


def test_certificate_list_paginates(api: Api) -> None:
    token = register_user(api, "pages@example.com")["accessToken"]
    device = create_device(api, token)
    api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token)
    first = api.call("GET", f"/v1/devices/{device['id']}/certificates?limit=1", token=token)
    cursor = json.loads(first.body)["pagination"]["nextCursor"]
    assert cursor
    second = json.loads(
        api.call("GET", f"/v1/devices/{device['id']}/certificates?limit=1&cursor={cursor}", token=token).body
    )
    assert second["pagination"]["nextCursor"] is None
    assert [c["id"] for c in _data(first) + second["data"]] == [
        c["id"] for c in _certificates(api, token, device["id"])
    ]
    other = create_device(api, token, name="other")
    wrong = api.call("GET", f"/v1/devices/{other['id']}/certificates?cursor={cursor}", token=token)
    assert wrong.status_code == 400


def test_another_users_device_certificates_are_404(api: Api) -> None:
    alice = register_user(api, "alice.certs@example.com")["accessToken"]
    bob = register_user(api, "bob.certs@example.com")["accessToken"]
    device = create_device(api, alice)
    base = f"/v1/devices/{device['id']}"
    assert api.call("GET", f"{base}/certificates", token=bob).status_code == 404
    assert api.call("POST", f"{base}/certificates", {}, token=bob).status_code == 404
    assert api.call("DELETE", f"{base}/certificates/{device['certificateId']}", token=bob).status_code == 404
    assert api.call("DELETE", base, token=bob).status_code == 404
    assert _certificates(api, alice, device["id"])[0]["status"] == "active"


def test_decommissioning_revokes_everything_deletes_the_thing_and_keeps_history(api: Api) -> None:
    token = register_user(api, "decom@example.com")["accessToken"]
    device = create_device(api, token)
    api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token)
    now = now_ms()
    reading = {"ts": now - 60_000, "seq": 1, "metrics": {"power_w": 5.0}}
    assert ingest(device["thingName"], json.dumps(reading)) == {"batchItemFailures": []}
    readings = f"/v1/devices/{device['id']}/readings?metric=power_w&from={now - 3_600_000}&to={now + 1}"
    before = _data(api.call("GET", readings, token=token))
    assert before

    # When the owner decommissions it (twice: idempotent, 204 both times)
    assert api.call("DELETE", f"/v1/devices/{device['id']}", token=token).status_code == 204
    assert api.call("DELETE", f"/v1/devices/{device['id']}", token=token).status_code == 204

    # Then it reads as decommissioned, every certificate is revoked in IoT, and the thing is gone
    assert _data(api.call("GET", f"/v1/devices/{device['id']}", token=token))["status"] == "decommissioned"
    certificates = _certificates(api, token, device["id"])
    assert len(certificates) == 2 and {c["status"] for c in certificates} == {"revoked"}
    iot = boto3.client("iot")
    for c in certificates:
        assert iot.describe_certificate(certificateId=c["id"])["certificateDescription"]["status"] == "REVOKED"
    assert device["thingName"] not in [t["thingName"] for t in iot.list_things()["things"]]
    # And its readings are still there
    assert _data(api.call("GET", readings, token=token)) == before
    # And commands and new certificates are refused with a problem
    command = api.call("POST", f"/v1/devices/{device['id']}/commands", {"name": "reset_counters"}, token=token)
    assert command.status_code == 409 and command.headers["Content-Type"] == "application/problem+json"
    assert api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token).status_code == 409
    # And telemetry still arriving under its thing name is dead-lettered with the reason
    late = ingest(device["thingName"], json.dumps({"ts": now, "seq": 2, "metrics": {"power_w": 5.0}}))
    assert late == {"batchItemFailures": []}
    from gridshare.telemetry.models import DeadLetterModel

    letters = [d for d in DeadLetterModel.scan() if d.thing_name == device["thingName"]]
    assert len(letters) == 1 and "is decommissioned" in str([r.message for r in letters[0].reasons])


def test_rotation_with_a_csr_keeps_the_new_key_on_the_device(api: Api) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    token = register_user(api, "rotate.csr@example.com")["accessToken"]
    device = create_device(api, token)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gs-someone-else")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    issued = api.call("POST", f"/v1/devices/{device['id']}/certificates", {"csr": csr}, token=token)
    assert issued.status_code == 201, issued.body
    new = _data(issued)
    assert "privateKey" not in new
    cert = x509.load_pem_x509_certificate(new["certificatePem"].encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    # the CSR's subject is ignored: the certificate names the device's own thing
    assert cert.subject.rfc4514_string() == f"CN={device['thingName']}"
    bad = api.call(
        "POST",
        f"/v1/devices/{device['id']}/certificates",
        {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAA\n"},
        token=token,
    )
    assert bad.status_code == 422 and json.loads(bad.body)["errors"][0]["field"] == "csr"
    assert len(_certificates(api, token, device["id"])) == 2


def test_an_issue_that_races_past_the_bound_revokes_its_own_certificate(api: Api, monkeypatch: Any) -> None:
    from gridshare.devices import certificates

    token = register_user(api, "race@example.com")["accessToken"]
    device = create_device(api, token)
    for _ in range(MAX_ACTIVE - 1):
        assert api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token).status_code == 201
    # Given a concurrent request that passed the check before the others were recorded
    monkeypatch.setattr(certificates, "check_can_issue", lambda _existing: None)
    raced = api.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token)
    # Then it is refused, and its certificate is revoked: the bound holds
    assert raced.status_code == 409
    listed = _certificates(api, token, device["id"])
    assert sum(c["status"] == "active" for c in listed) == MAX_ACTIVE
    assert len(listed) == MAX_ACTIVE + 1 and sum(c["status"] == "revoked" for c in listed) == 1
