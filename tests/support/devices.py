"""Devices and readings for tests: create a device through the API, deliver readings as the ingest
Lambda receives them (the telemetry rule's SQS projection), and command acks as the ack Lambda does."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from tests.support.api import Api


def sqs_event(
    thing: str, payload: bytes | str, received_at: int | None = None, queue: str = "telemetry-ingest"
) -> dict[str, Any]:
    """An SQS batch of one message shaped as the IoT rules project it (telemetry and command acks alike)."""
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
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                "awsRegion": "us-east-1",
            }
        ]
    }


def ingest(thing: str, payload: bytes | str, received_at: int | None = None) -> dict[str, Any]:
    """Deliver one message to the ingest Lambda as a fresh container would; its SQS batch response."""
    from gridshare.telemetry import ingest as ingest_lambda
    from gridshare_local.lambda_runtime import LambdaContext

    ingest_lambda.telemetry_service.reset()
    return ingest_lambda.handler(sqs_event(thing, payload, received_at), LambdaContext("ingest"))


def deliver_heartbeat(thing: str, received_at: int | None = None) -> dict[str, Any]:
    """Deliver one heartbeat (gs/v1/{thing}/heartbeat) to the heartbeat Lambda, shaped as the heartbeat rule
    projects it; its SQS batch response."""
    from gridshare.devices import health_events
    from gridshare.kernel.clock import now_ms
    from gridshare_local.lambda_runtime import LambdaContext

    event = sqs_event(thing, b"", received_at or now_ms(), queue="device-heartbeats")
    body = json.loads(event["Records"][0]["body"])
    event["Records"][0]["body"] = json.dumps({"thing_name": body["thing_name"], "received_at": body["received_at"]})
    return health_events.heartbeat_handler(event, LambdaContext("heartbeats"))


def create_device(api: Api, token: str, **body: Any) -> dict[str, Any]:
    response = api.call("POST", "/v1/devices", {"name": "meter 1", "type": "meter", **body}, token=token)
    assert response.status_code == 201, response.body
    return json.loads(response.body)["data"]


def deliver_ack(thing: str, ack: dict[str, Any] | bytes, received_at: int | None = None) -> dict[str, Any]:
    """Deliver one command ack (as the device published it on gs/v1/{thing}/commands/ack) to the ack Lambda,
    shaped as the commands-ack rule projects it; its SQS batch response."""
    from gridshare.devices import command_events
    from gridshare.kernel.clock import now_ms
    from gridshare_local.lambda_runtime import LambdaContext

    payload = ack if isinstance(ack, bytes) else json.dumps(ack)
    event = sqs_event(thing, payload, received_at or now_ms(), queue="device-command-acks")
    return command_events.ack_handler(event, LambdaContext("command-acks"))
