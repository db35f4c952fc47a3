"""Devices and telemetry through the API and the ingest function, against moto."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridshare.kernel.settings import reset_settings
from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device
from tests.support.logs import log_lines


def test_provision_returns_working_credentials_and_policy(api: Api) -> None:
    import boto3

    token = register_user(api, "owner@example.com")["accessToken"]
    device = create_device(api, token)
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
    device = create_device(api, token, csr=csr)
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
    device = create_device(api, alice)
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
    ids = {create_device(api, token, name=f"m{i}")["id"] for i in range(5)}
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


def test_without_the_cursor_secret_a_next_page_is_a_logged_500(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user with more devices than one page, and a cursor to their second page
    token = register_user(api, "unsigned@example.com")["accessToken"]
    for i in range(2):
        create_device(api, token, name=f"u{i}")
    cursor = json.loads(api.call("GET", "/v1/devices?limit=1", token=token).body)["pagination"]["nextCursor"]

    # And a function deployed without GS_CURSOR_SECRET (the code has no key of its own to fall back to)
    monkeypatch.delenv("GS_CURSOR_SECRET")
    reset_settings()
    capsys.readouterr()

    for path in ("/v1/devices?limit=1", f"/v1/devices?limit=1&cursor={cursor}"):
        # When a page that needs a cursor is asked for (one to sign, or one to check)
        response = api.call("GET", path, token=token)

        # Then it is the generic 500 problem: nothing about the configuration reaches the client
        assert response.status_code == 500, response.body
        problem = json.loads(response.body)
        assert problem["detail"] == "An unexpected error occurred." and "errors" not in problem
        assert b"CURSOR" not in response.body.upper()

        # And it is logged, as JSON with the request's correlation id, naming the missing setting
        (line,) = log_lines(capsys.readouterr().out, "unhandled error in GET /v1/devices")
        assert line["level"] == "ERROR" and line["correlation_id"]
        assert line["exception_name"] == "ConfigurationError" and "GS_CURSOR_SECRET" in line["exception"]
