"""The Lambda entry points as AWS invokes them: each handler gets a real-shaped event from events/.

Other integration tests go through Chalice's test client, which builds its own events; these feed the
authorizer, each context's `lambda_app.app` and the ingest handler the payloads that API Gateway and SQS
send, so a handler that only works with the test client's events fails here. The last section checks
what every entry prints (gridshare.kernel.observability): JSON lines with its service and correlation id,
and its metrics.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import gzip
import hashlib
import importlib
import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import moto.cognitoidp
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gridshare.contexts import CONTEXTS
from gridshare.http.api import ROUTES, RouteSpec
from tests.support.api import Api, create_admin, register_user
from tests.support.events import (
    command_ack_batch,
    invocation_context,
    load_event,
    proxy_event,
    telemetry_batch,
)
from tests.support.logs import log_lines, metric_documents

MOTO_KEYS = Path(moto.cognitoidp.__file__).parent / "resources"


def _device_event(device_id: str, token: str) -> dict[str, Any]:
    sample = load_event("apigw_rest_proxy_get_device")
    stage_path = sample["requestContext"]["path"].rsplit("/", 1)[0]
    return proxy_event(
        "apigw_rest_proxy_get_device",
        token,
        **{
            "path": f"/v1/devices/{device_id}",
            "pathParameters.id": device_id,
            "requestContext.path": f"{stage_path}/{device_id}",
        },
    )


def _create_device(api: Api, token: str, name: str = "meter 1") -> dict[str, Any]:
    response = api.call("POST", "/v1/devices", {"name": name, "type": "meter"}, token=token)
    assert response.status_code == 201, response.body
    return json.loads(response.body)["data"]


def _admin_token(api: Api) -> str:
    create_admin()
    login = api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"})
    assert login.status_code == 200, login.body
    return str(json.loads(login.body)["data"]["accessToken"])


def _get(api: Api, path: str, token: str) -> Any:
    response = api.call("GET", path, token=token)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.body}"
    return json.loads(response.body)


def _payload(record: dict[str, Any]) -> bytes:
    return base64.b64decode(json.loads(record["body"])["payload"])


# ------------------------------------------------------------------ API Gateway TOKEN authorizer


def _moto_signing_key() -> Any:
    with gzip.open(MOTO_KEYS / "jwks-private.json.gz", "rt") as handle:
        document = json.load(handle)
    return RSAAlgorithm.from_jwk(json.dumps(document["keys"][0] if "keys" in document else document))


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bad_tokens(access_token: str, id_token: str) -> dict[str, str]:
    """Tokens API Gateway must answer 401 for, most built from the claims of a real access token."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    header = jwt.get_unverified_header(access_token)
    as_admin = {**claims, "cognito:groups": ["admin"]}
    now = int(time.time())
    moto_key = _moto_signing_key()
    signed_head, _, signature = access_token.rpartition(".")
    head = signed_head.split(".")[0]
    return {
        "garbage": "not-a-jwt",
        "empty": "",
        "bearer without a token": "Bearer ",
        "expired": jwt.encode(
            {**claims, "iat": now - 7200, "exp": now - 3600}, moto_key, algorithm="RS256", headers=header
        ),
        "claims changed after signing": f"{head}.{_b64url(as_admin)}.{signature}",
        "signed by another key": jwt.encode(
            as_admin,
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            algorithm="RS256",
            headers=header,
        ),
        "alg none": f"{_b64url({'alg': 'none', 'kid': header['kid']})}.{_b64url(as_admin)}.",
        "issued to another client": jwt.encode(
            {**claims, "client_id": "someone-elses-app"}, moto_key, algorithm="RS256", headers=header
        ),
        "ID token instead of access token": id_token,
    }


def test_authorizer_allows_a_real_token_for_the_whole_stage(api: Api) -> None:
    from gridshare.identity import authorizer

    # Given a registered user's access token, sent by API Gateway as the TOKEN authorizer event
    login = register_user(api, "authorized@example.com", role="consumer")
    event = load_event("apigw_authorizer_token", authorizationToken=f"Bearer {login['accessToken']}")

    # When the authorizer runs
    result = authorizer.handler(event, invocation_context("identity-authorizer"))

    # Then the principal is the user, and the Allow covers every method of this API's stage (the result
    # may be cached per token and reused for other routes), but no other stage or API
    assert result["principalId"] == login["user"]["id"]
    (statement,) = result["policyDocument"]["Statement"]
    assert result["policyDocument"]["Version"] == "2012-10-17"
    assert statement["Effect"] == "Allow" and statement["Action"] == "execute-api:Invoke"
    api_arn, stage = event["methodArn"].split("/")[:2]
    assert statement["Resource"] == f"{api_arn}/{stage}/*"
    for method_arn in (event["methodArn"], f"{api_arn}/{stage}/POST/v1/devices", f"{api_arn}/{stage}/GET/v1/devices/x"):
        assert fnmatch.fnmatchcase(method_arn, statement["Resource"])
    assert not fnmatch.fnmatchcase(f"{api_arn}/prod/GET/v1/me", statement["Resource"])
    assert not fnmatch.fnmatchcase(f"{api_arn[:-1]}x/{stage}/GET/v1/me", statement["Resource"])

    # And the context API Gateway forwards holds only strings (anything else fails the authorizer)
    context = result["context"]
    assert all(isinstance(value, str) for value in context.values()), context
    assert context["userId"] == login["user"]["id"] and context["role"] == "consumer"


def test_authorizer_refuses_forged_garbage_and_expired_tokens(api: Api) -> None:
    from gridshare.identity import authorizer

    # Given a real user's tokens and forgeries built from them
    login = register_user(api, "forger@example.com")
    tokens = _bad_tokens(login["accessToken"], login["idToken"])
    # (a control: the same claims re-signed with the pool's key pass, so each refusal below is for its reason)
    claims = jwt.decode(login["accessToken"], options={"verify_signature": False})
    resigned = jwt.encode(
        claims, _moto_signing_key(), algorithm="RS256", headers=jwt.get_unverified_header(login["accessToken"])
    )
    control = authorizer.handler(
        load_event("apigw_authorizer_token", authorizationToken=resigned), invocation_context("authz")
    )
    assert control["principalId"] == login["user"]["id"]

    for name, token in tokens.items():
        # When API Gateway passes each one to the authorizer
        event = load_event("apigw_authorizer_token", authorizationToken=token)
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the exact type and message are checked below
            authorizer.handler(event, invocation_context("identity-authorizer"))

        # Then it raises exactly Exception("Unauthorized"): API Gateway answers 401 for that message only
        # (any other error becomes a 500), and no detail of why leaks into the exception
        assert type(raised.value) is Exception, f"{name}: {raised.value!r}"
        assert raised.value.args == ("Unauthorized",), f"{name}: {raised.value!r}"


# ------------------------------------------------------------------ each context's API Lambda


def test_platform_lambda_answers_health() -> None:
    from functions.platform.lambda_app import app

    # Given the proxy event of GET /health (public: no authorizer, no token)
    event = load_event("apigw_rest_proxy_get_health")

    # When the platform Lambda handles it
    response = app(event, invocation_context("platform-api"))

    # Then it answers 200 with the security headers
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {"status": "ok"}
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"


def test_identity_lambda_answers_me_with_a_real_token(api: Api) -> None:
    from functions.identity.lambda_app import app

    # Given a user and the proxy event of GET /v1/me carrying their token
    login = register_user(api, "me@example.com")
    event = proxy_event("apigw_rest_proxy_get_me", login["accessToken"])

    # When the identity Lambda handles it
    response = app(event, invocation_context("identity-api"))

    # Then it answers with the caller's profile
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["data"]["email"] == "me@example.com"

    # And invoked without the token (as if API Gateway's authorizer were bypassed) it verifies again: 401
    anonymous = app(proxy_event("apigw_rest_proxy_get_me"), invocation_context("identity-api"))
    assert anonymous["statusCode"] == 401
    assert anonymous["headers"]["Content-Type"] == "application/problem+json"


def test_devices_lambda_answers_404_for_another_users_device(api: Api) -> None:
    from functions.devices.lambda_app import app

    # Given Alice's device and Bob, another user
    alice = register_user(api, "alice@example.com")["accessToken"]
    bob = register_user(api, "bob@example.com", role="consumer")["accessToken"]
    device = _create_device(api, alice)

    # When Bob asks the devices Lambda for it
    response = app(_device_event(device["id"], bob), invocation_context("devices-api"))

    # Then the answer is a 404 problem, which does not reveal that the device exists
    assert response["statusCode"] == 404, response
    assert response["headers"]["Content-Type"] == "application/problem+json"
    problem = json.loads(response["body"])
    assert problem["status"] == 404 and problem["detail"] == "No such device."  # same as for an unknown id

    # And the same event from Alice gets her device (the 404 is about ownership, not the event)
    own = app(_device_event(device["id"], alice), invocation_context("devices-api"))
    assert own["statusCode"] == 200, own
    assert json.loads(own["body"])["data"]["id"] == device["id"]


def test_each_lambda_holds_only_its_own_contexts_routes(api: Api) -> None:
    from functions.devices.lambda_app import app as devices_app
    from functions.identity.lambda_app import app as identity_app
    from functions.platform.lambda_app import app as platform_app

    # Given a user with a device, and valid proxy events for a devices route and an identity route
    token = register_user(api, "routes@example.com")["accessToken"]
    device = _create_device(api, token)
    misrouted = [
        (identity_app, _device_event(device["id"], token)),
        (platform_app, proxy_event("apigw_rest_proxy_get_me", token)),
        (devices_app, proxy_event("apigw_rest_proxy_get_me", token)),
    ]

    for app, event in misrouted:
        # When a Lambda of another context receives it
        response = app(event, invocation_context(app.app_name))

        # Then it does not serve it (a client error, not a crash), and says nothing about why
        assert 400 <= response["statusCode"] < 500, (app.app_name, response)
        assert "Traceback" not in response["body"]


# ------------------------------------------------------------------ telemetry ingest (SQS)


def _ingest(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from gridshare.telemetry import ingest

    ingest.telemetry_service.reset()  # a fresh container: no device cached from an earlier delivery
    return ingest.handler(event, context or invocation_context("telemetry-ingest"))


def test_ingest_stores_the_valid_reading_dead_letters_the_rest_and_is_idempotent(api: Api) -> None:
    # Given a provisioned device and the telemetry rule's batch for it, arriving now:
    # one valid reading, one out of range (voltage 5000 V), one that is not JSON
    token = register_user(api, "meter@example.com")["accessToken"]
    device = _create_device(api, token)
    admin = _admin_token(api)
    now = int(time.time() * 1000)
    event = telemetry_batch(device["thingName"], now)
    valid, out_of_range, not_json = event["Records"]
    reading = json.loads(_payload(valid))

    # When the ingest Lambda handles the batch
    result = _ingest(event)

    # Then no record fails: invalid messages are kept as dead letters, not retried
    assert result == {"batchItemFailures": []}

    # And the valid reading is the device's latest
    latest = _get(api, f"/v1/devices/{device['id']}/readings/latest", token)["data"]
    assert latest["seq"] == reading["seq"] and latest["metrics"] == reading["metrics"]

    # And the two others are dead letters with their reasons and the bytes the device sent
    letters = _get(api, "/v1/telemetry/dead-letters", admin)["data"]
    by_payload = {base64.b64decode(letter["payloadBase64"]): letter for letter in letters}
    assert set(by_payload) == {_payload(out_of_range), _payload(not_json)}
    assert [r["field"] for r in by_payload[_payload(out_of_range)]["reasons"]] == ["metrics.voltage_v"]
    assert [r["field"] for r in by_payload[_payload(not_json)]["reasons"]] == ["$"]
    assert {letter["thingName"] for letter in letters} == {device["thingName"]}
    assert {letter["deviceId"] for letter in letters} == {device["id"]}

    history = f"/v1/devices/{device['id']}/readings?metric=power_w&from={now - 3_600_000}&to={now + 60_000}"
    quarters = history + "&resolution=15m"
    raw_before = _get(api, history, token)["data"]
    assert [point["value"] for point in raw_before] == [reading["metrics"]["power_w"]]
    rollups_before = _get(api, quarters, token)["data"]

    # When SQS delivers the same batch again (a retry after a timeout, possibly to another container)
    again = _ingest(copy.deepcopy(event))

    # Then nothing changes: same latest, same dead letters, the reading stored and counted once
    assert again == {"batchItemFailures": []}
    assert _get(api, f"/v1/devices/{device['id']}/readings/latest", token)["data"] == latest
    letters_after = _get(api, "/v1/telemetry/dead-letters", admin)["data"]
    assert sorted(letter["id"] for letter in letters_after) == sorted(letter["id"] for letter in letters)
    assert _get(api, history, token)["data"] == raw_before
    assert _get(api, quarters, token)["data"] == rollups_before


def test_a_throttled_write_fails_only_its_record(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.telemetry.store import TelemetryStore

    # Given the rule's batch plus a second valid reading, 5 s after the first
    token = register_user(api, "throttled@example.com")["accessToken"]
    device = _create_device(api, token)
    admin = _admin_token(api)
    event = telemetry_batch(device["thingName"], int(time.time() * 1000))
    first = event["Records"][0]
    body = json.loads(first["body"])
    message = json.loads(_payload(first))
    later = {**message, "seq": message["seq"] + 1, "ts": message["ts"] + 5_000}
    second = copy.deepcopy(first)
    second["messageId"] = str(uuid.uuid4())
    second["body"] = json.dumps({**body, "payload": base64.b64encode(json.dumps(later).encode()).decode()})
    second["md5OfBody"] = hashlib.md5(second["body"].encode()).hexdigest()  # noqa: S324 - SQS's checksum
    event["Records"].insert(1, second)

    # And DynamoDB throttles the write of the first reading only (on either write path: the raw put of
    # decision 0016, the default, or the transaction of decision 0003)
    def throttled(name: str) -> Any:
        original = getattr(TelemetryStore, name)

        def write(self: TelemetryStore, reading: Any, *args: Any, **kwargs: Any) -> Any:
            if reading.seq == message["seq"]:
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}},
                    "PutItem" if name == "store_raw" else "TransactWriteItems",
                )
            return original(self, reading, *args, **kwargs)

        return write

    originals = {name: getattr(TelemetryStore, name) for name in ("store", "store_raw")}
    for name in originals:
        monkeypatch.setattr(TelemetryStore, name, throttled(name))

    # When the ingest Lambda handles the batch
    result = _ingest(event)

    # Then only that record is reported failed, so SQS redelivers it alone
    assert result == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}

    # And the rest of the batch was processed: the second reading stored, the two invalid dead-lettered
    latest = _get(api, f"/v1/devices/{device['id']}/readings/latest", token)["data"]
    assert latest["seq"] == later["seq"]
    assert len(_get(api, "/v1/telemetry/dead-letters", admin)["data"]) == 2

    # When the throttling is over and SQS redelivers the failed record
    for name, original in originals.items():
        monkeypatch.setattr(TelemetryStore, name, original)
    retry = {"Records": [first]}
    assert _ingest(retry) == {"batchItemFailures": []}

    # Then the older reading joins the history without displacing the newer latest
    now = int(time.time() * 1000)
    history = _get(
        api, f"/v1/devices/{device['id']}/readings?metric=power_w&from={now - 3_600_000}&to={now + 60_000}", token
    )["data"]
    assert [point["seq"] for point in history] == [message["seq"], later["seq"]]
    assert _get(api, f"/v1/devices/{device['id']}/readings/latest", token)["data"]["seq"] == later["seq"]


# ------------------------------------------------------------------ every entry: JSON logs and metrics
FINISHED = "invocation finished"  # gridshare.kernel.observability's DEBUG line, one per invocation


@pytest.fixture
def entry_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Entries log at WARNING in tests (conftest); show the per-invocation DEBUG line too."""
    caplog.set_level(logging.DEBUG, logger="gridshare.lambda")


def _route_event(spec: RouteSpec, request_id: str) -> dict[str, Any]:
    """A proxy event for a route of the table, as API Gateway sends it (path parameters filled in)."""
    names = re.findall(r"\{(\w+)\}", spec.path)
    path = re.sub(r"\{\w+\}", "unknown", spec.path)
    sample = load_event("apigw_rest_proxy_get_health")
    stage = sample["requestContext"]["stage"]
    return load_event(
        "apigw_rest_proxy_get_health",
        **{
            "resource": spec.path,
            "path": path,
            "httpMethod": spec.method.upper(),
            "pathParameters": {name: "unknown" for name in names} or None,
            "requestContext.resourcePath": spec.path,
            "requestContext.httpMethod": spec.method.upper(),
            "requestContext.path": f"/{stage}{path}",
            "requestContext.requestId": request_id,
        },
    )


@pytest.mark.usefixtures("entry_logs")
@pytest.mark.parametrize("context", CONTEXTS)
def test_each_api_lambda_logs_json_with_the_request_id_and_its_service(
    aws: dict[str, str], context: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the context's API Lambda under the service name CDK gives it, and API Gateway's event for one
    # of its GET routes (generated from the route table, so a new context is checked too)
    service = f"{context}-api"
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service)
    app = importlib.import_module(f"functions.{context}.lambda_app").app
    spec = next(s for s in ROUTES if s.context == context and s.method.upper() == "GET" and not s.local_only)
    request_id = str(uuid.uuid4())
    lambda_context = invocation_context(f"gridshare-{service}")
    capsys.readouterr()

    # When the Lambda handles it (without a token: a protected route answers 401)
    response = app(_route_event(spec, request_id), lambda_context)

    # Then it served its own route
    assert response["statusCode"] == (200 if spec.roles is None else 401), response

    # And it logged a JSON line with API Gateway's request id, its service and the Lambda context
    (line,) = log_lines(capsys.readouterr().out, FINISHED)
    assert line["correlation_id"] == request_id
    assert line["service"] == service
    assert line["function_request_id"] == lambda_context.aws_request_id
    assert line["function_name"] == lambda_context.function_name
    assert line["outcome"] == "ok" and line["level"] == "DEBUG" and line["name"] == "gridshare.lambda"


@pytest.mark.usefixtures("entry_logs")
def test_authorizer_logs_json_with_its_invocation_id(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridshare.identity import authorizer

    # Given the authorizer under its service name and a TOKEN event (which carries no API Gateway request id)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "identity-authorizer")
    lambda_context = invocation_context("gridshare-identity-authorizer")
    capsys.readouterr()

    # When it refuses a token
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorizer.handler(load_event("apigw_authorizer_token", authorizationToken="not-a-jwt"), lambda_context)

    # Then its line is correlated by its own invocation id (the access log's authorizerRequestId)
    (line,) = log_lines(capsys.readouterr().out, FINISHED)
    assert line["correlation_id"] == lambda_context.aws_request_id
    assert line["service"] == "identity-authorizer"
    assert line["outcome"] == "error"


@pytest.mark.usefixtures("entry_logs")
def test_ingest_logs_each_record_with_its_message_id_and_flushes_its_metrics(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the ingest function's service name, and the rule's batch for a device (one valid reading, two
    # invalid) plus a message that is not the rule's projection at all
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "telemetry-ingest")
    device = _create_device(api, register_user(api, "logged@example.com")["accessToken"])
    event = telemetry_batch(device["thingName"], int(time.time() * 1000))
    malformed = copy.deepcopy(event["Records"][0])
    malformed["messageId"] = str(uuid.uuid4())
    malformed["body"] = "not the rule's projection"
    event["Records"].append(malformed)
    lambda_context = invocation_context("gridshare-telemetry-ingest")
    capsys.readouterr()

    # When the ingest Lambda handles the batch
    assert _ingest(event, lambda_context) == {"batchItemFailures": []}
    out = capsys.readouterr().out

    # Then the warning about the malformed message carries that message's id and the service
    (warning,) = log_lines(out, "malformed envelope dead-lettered")
    assert warning["correlation_id"] == malformed["messageId"]
    assert warning["service"] == "telemetry-ingest" and warning["level"] == "WARNING"
    assert warning["name"] == "gridshare.telemetry.ingest" and warning["deadLetterId"]

    # And the batch's own line carries the invocation's id (no record's id leaks past its record)
    (finished,) = log_lines(out, FINISHED)
    assert finished["correlation_id"] == lambda_context.aws_request_id

    # And the outcome counts were flushed as EMF metrics under the service, in the Gridshare namespace
    (document,) = [d for d in metric_documents(out) if "Readings_stored" in d]
    assert document["service"] == "telemetry-ingest"
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Gridshare"
    counts = {
        name: sum(v if isinstance(v, list) else [v]) for name, v in document.items() if name.startswith("Readings_")
    }
    assert counts == {"Readings_stored": 1, "Readings_dead_lettered": 2}


# ------------------------------------------------------------------ device command acks (SQS) and expiry
def test_command_ack_lambda_settles_the_command_and_logs_with_the_message_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.devices.command_acks import handler
    from gridshare.devices.command_service import command_service

    # Given a command sent to a device, and the commands-ack rule's batch with the device's answer
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "devices-command-acks")
    token = register_user(api, "acked@example.com")["accessToken"]
    device = _create_device(api, token)
    sent = api.call("POST", f"/v1/devices/{device['id']}/commands", {"name": "reset_counters"}, token=token)
    command = json.loads(sent.body)["data"]
    event = command_ack_batch(device["thingName"], command["id"], int(time.time() * 1000))
    unknown = command_ack_batch(device["thingName"], "01J00000000000000000000000", int(time.time() * 1000))
    event["Records"] += [dict(unknown["Records"][0], messageId=str(uuid.uuid4()))]
    capsys.readouterr()

    # When the ack Lambda handles it (twice: SQS delivers at least once)
    command_service.reset()
    assert handler(event, invocation_context("gridshare-devices-command-acks")) == {"batchItemFailures": []}
    assert handler(copy.deepcopy(event), invocation_context("gridshare-devices-command-acks")) == {
        "batchItemFailures": []
    }
    out = capsys.readouterr().out

    # Then the command succeeded with the device's result
    answered = json.loads(api.call("GET", f"/v1/devices/{device['id']}/commands/{command['id']}", token=token).body)
    assert answered["data"]["status"] == "succeeded" and answered["data"]["result"] == {"intervalS": 30}
    # And the ack naming no command of that thing was logged with its record's message id
    (warning,) = log_lines(out, "ack for no command of this thing")[:1]
    assert warning["correlation_id"] == event["Records"][1]["messageId"]
    assert warning["service"] == "devices-command-acks"
    # And the outcomes were counted: applied once, then a duplicate; the unknown one twice
    counts: dict[str, int] = {}
    for document in metric_documents(out):
        for name, value in document.items():
            if name.startswith("CommandAcks_"):
                counts[name] = counts.get(name, 0) + sum(value if isinstance(value, list) else [value])
    assert counts == {"CommandAcks_applied": 1, "CommandAcks_duplicate": 1, "CommandAcks_unknown": 2}
