"""Malformed command acks go to the devices' dead letters with their reason, never silently dropped; admins
and operators list them at GET /v1/devices/dead-letters (docs/devices.md)."""

from __future__ import annotations

import base64
import json
from typing import Any

from gridshare.devices import command_events
from gridshare.devices.dead_letters import RETENTION_S, DeviceDeadLetterModel
from gridshare_local.lambda_runtime import LambdaContext
from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device, deliver_ack, sqs_event


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _admin(api: Api) -> str:
    create_admin()
    login = api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"})
    return str(_data(login)["accessToken"])


def _letters(api: Api, token: str, **params: Any) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = api.call("GET", f"/v1/devices/dead-letters?{query}", token=token)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def test_malformed_acks_are_dead_lettered_with_their_reason_and_listed_for_admins(api: Api) -> None:
    admin = _admin(api)
    owner = register_user(api, "owner@example.com")["accessToken"]
    meter = create_device(api, owner)
    thing = meter["thingName"]

    assert deliver_ack(thing, b"\x00not json", received_at=1_000) == {"batchItemFailures": []}
    assert deliver_ack(thing, {"status": "succeeded"}, received_at=2_000) == {"batchItemFailures": []}
    assert deliver_ack(thing, {"correlationId": "01NOSUCHCOMMAND", "status": "succeeded"}, received_at=3_000) == {
        "batchItemFailures": []
    }
    broken = sqs_event(thing, b"{}", 4_000, queue="device-command-acks")
    broken["Records"][0]["body"] = "not the rule's projection"
    assert command_events.ack_handler(broken, LambdaContext("command-acks")) == {"batchItemFailures": []}
    not_base64 = sqs_event(thing, b"{}", 5_000, queue="device-command-acks")
    not_base64["Records"][0]["body"] = json.dumps({"thing_name": thing, "payload": "%%%", "received_at": 5_000})
    assert command_events.ack_handler(not_base64, LambdaContext("command-acks")) == {"batchItemFailures": []}
    # a redelivery (same thing, bytes and arrival) is the same letter
    deliver_ack(thing, b"\x00not json", received_at=1_000)

    body = _letters(api, admin)
    undecodable = body["data"].pop(1)
    assert undecodable["reasons"][0]["message"].startswith("not the rule's projection")
    assert undecodable["thingName"] == thing and undecodable["receivedAt"][:19] == "1970-01-01T00:00:05"
    letters = body["data"]
    # newest first; the unreadable envelope has no arrival stamp of the rule's, so it arrived now
    assert [letter["receivedAt"][:19] for letter in letters[1:]] == [
        "1970-01-01T00:00:03",
        "1970-01-01T00:00:02",
        "1970-01-01T00:00:01",
    ]
    projection, unknown, no_id, not_json = letters
    assert base64.b64decode(not_json["payload"]) == b"\x00not json"
    assert (not_json["thingName"], not_json["topic"]) == (thing, f"gs/v1/{thing}/commands/ack")
    assert not_json["reasons"][0]["field"] == "payload" and "not JSON" in not_json["reasons"][0]["message"]
    assert no_id["reasons"][0]["field"] == "ack"
    assert unknown["reasons"] == [{"field": "correlationId", "message": "no such command for this thing"}]
    assert projection["thingName"] is None and base64.b64decode(projection["payload"]) == b"not the rule's projection"
    assert {letter["kind"] for letter in letters} == {"command_ack"}
    # kept for RETENTION_S (DynamoDB's TTL)
    item = DeviceDeadLetterModel.get("command_ack", not_json["id"])
    assert item.purge_at is not None and int(item.purge_at.timestamp()) == 1 + RETENTION_S

    # a cursor pages them
    first = _letters(api, admin, limit=3)
    assert len(first["data"]) == 3 and first["pagination"]["nextCursor"]
    rest = _letters(api, admin, limit=3, cursor=first["pagination"]["nextCursor"])
    paged = [letter["id"] for letter in first["data"] + rest["data"]]
    assert paged == [letters[0]["id"], undecodable["id"], *[letter["id"] for letter in letters[1:]]]

    # owners and anonymous callers cannot list them
    assert api.call("GET", "/v1/devices/dead-letters", token=owner).status_code == 403
    assert api.call("GET", "/v1/devices/dead-letters").status_code == 401
