"""Devices and readings for tests: create a device through the API, deliver readings as the ingest
Lambda receives them (the telemetry rule's SQS projection)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from tests.support.api import Api


def sqs_event(thing: str, payload: bytes | str, received_at: int | None = None) -> dict[str, Any]:
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


def ingest(thing: str, payload: bytes | str) -> dict[str, Any]:
    """Deliver one message to the ingest Lambda as a fresh container would; its SQS batch response."""
    from gridshare.telemetry import ingest as ingest_lambda
    from gridshare_local.lambda_runtime import LambdaContext

    ingest_lambda.telemetry_service.reset()
    return ingest_lambda.handler(sqs_event(thing, payload), LambdaContext("ingest"))


def create_device(api: Api, token: str, **body: Any) -> dict[str, Any]:
    response = api.call("POST", "/v1/devices", {"name": "meter 1", "type": "meter", **body}, token=token)
    assert response.status_code == 201, response.body
    return json.loads(response.body)["data"]
