"""Events and fakes for the notifications tests: alert events as docs/events.md defines them, SQS batches of
EventBridge envelopes (what the event rules deliver), and a stand-in for the @connections API."""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from gridshare.kernel.ids import new_id


def alert(severity: str = "critical", title: str = "Gas leak", **fields: Any) -> dict[str, Any]:
    """An alert's public JSON, every field the contract names."""
    return {
        "id": new_id(),
        "ruleId": new_id(),
        "deviceId": None,
        "siteId": None,
        "kind": "leak",
        "type": "leak",
        "severity": severity,
        "status": "open",
        "title": title,
        "message": f"{title} detected",
        "count": 1,
        "lastValue": True,
        "openedAt": "2026-03-01T12:00:00.000Z",
        "acknowledged": False,
        "acknowledgedBy": None,
        "acknowledgedAt": None,
        "note": None,
        "resolved": False,
        "resolvedAt": None,
        "reminders": 0,
        "test": False,
        **fields,
    }


def alert_detail(
    owner: str,
    the_alert: dict[str, Any] | None = None,
    channels: tuple[str, ...] = ("email", "sms", "push", "websocket"),
    occurrence: str = "opened",
    audience: str = "owner",
) -> dict[str, Any]:
    return {
        "alert": the_alert or alert(),
        "ownerId": owner,
        "channels": list(channels),
        "occurrence": occurrence,
        "audience": audience,
    }


def envelope(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """What an EventBridge rule delivers to its SQS target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": source,
        "detail-type": detail_type,
        "account": "123456789012",
        "time": "2026-03-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def sqs_batch(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


class FakeConnections:
    """The @connections API: records what was posted; `gone` connections answer 410 GoneException."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, dict[str, Any]]] = []
        self.gone: set[str] = set()

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if ConnectionId in self.gone:
            raise ClientError(
                {"Error": {"Code": "GoneException", "Message": "gone"}, "ResponseMetadata": {"HTTPStatusCode": 410}},
                "PostToConnection",
            )
        self.posted.append((ConnectionId, json.loads(Data)))
        return {}

    def to(self, connection_id: str) -> list[dict[str, Any]]:
        return [message for cid, message in self.posted if cid == connection_id]


class NoDeliveries:
    """A deliveries queue that drops what it is given (tests that only need the inbox)."""

    def send(self, messages: list[dict[str, Any]]) -> None:
        del messages


def drain_queue(queue_urls: str, name: str) -> list[dict[str, Any]]:
    """Every message body on one of the stack's queues (`aws["queue_urls"]`), removed."""
    from gridshare.kernel.aws import client

    url = json.loads(queue_urls)[name]
    sqs, found = client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def settlement_completed(run_id: str, parties: list[str], intervals: list[str] | None = None) -> dict[str, Any]:
    """A SettlementCompleted detail as docs/events.md defines it (one chunk)."""
    return {
        "runId": run_id,
        "intervals": ["2026-12-03T10:00:00.000Z"] if intervals is None else intervals,
        "parties": parties,
        "part": 1,
        "parts": 1,
    }
