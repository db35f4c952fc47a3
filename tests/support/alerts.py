"""Alerts for tests: a recording publisher, and the evaluator's SQS events built from the event contract
(docs/events.md) as the EventBridge rules deliver them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from gridshare.kernel.clock import to_iso


@dataclass
class RecordingPublisher:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, entries: list[dict[str, Any]]) -> None:
        self.entries.extend(entries)

    def of(self, detail_type: str) -> list[dict[str, Any]]:
        return [e["Detail"] for e in self.entries if e["DetailType"] == detail_type]


def eventbridge_event(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"e-{time.time_ns()}",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def readings_accepted(
    device: dict[str, Any], *readings: tuple[int, dict[str, Any]], site_id: str | None = None
) -> dict[str, Any]:
    """ReadingsAccepted for one device: (ts ms, metrics) pairs."""
    return eventbridge_event(
        "gridshare.telemetry",
        "ReadingsAccepted",
        {
            "readings": [
                {
                    "deviceId": device["id"],
                    "ownerId": device["ownerId"],
                    "deviceType": device["type"],
                    "siteId": site_id,
                    "ts": to_iso(ts),
                    "metrics": metrics,
                }
                for ts, metrics in readings
            ]
        },
    )


def status_changed(device: dict[str, Any], status: str, at: int, previous: str = "online") -> dict[str, Any]:
    return eventbridge_event(
        "gridshare.devices",
        "DeviceStatusChanged",
        {
            "deviceId": device["id"],
            "ownerId": device["ownerId"],
            "type": device["type"],
            "previous": previous,
            "status": status,
            "at": to_iso(at),
            "lastSeenAt": to_iso(at),
        },
    )


def sqs_batch(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{time.time_ns()}-{i}",
                "receiptHandle": "rh",
                "body": json.dumps(event),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:alerts-events",
                "awsRegion": "us-east-1",
            }
            for i, event in enumerate(events)
        ]
    }


def evaluate(*events: dict[str, Any]) -> dict[str, Any]:
    """Deliver events to the evaluator Lambda as its queue would."""
    from gridshare.alerts import handlers
    from gridshare_local.lambda_runtime import LambdaContext

    return handlers.evaluator_handler(sqs_batch(*events), LambdaContext("alerts-evaluator"))


def run_reminders() -> dict[str, Any]:
    from gridshare.alerts import handlers
    from gridshare_local.lambda_runtime import LambdaContext

    return handlers.reminders_handler({}, LambdaContext("alert-reminders"))


def caller_of(user_id: str, role: str) -> Any:
    from gridshare.kernel.roles import Caller

    return Caller(user_id, user_id, role, (role,), 0, "tests")


def create_rule(user_id: str, role: str, device_id: str) -> str:
    """A threshold rule (power_w > 0, at once) on a meter of the user's, made through the service."""
    from gridshare.alerts.rule_service import rule_service

    fields = {
        "name": "any power",
        "device_id": device_id,
        "kind": "threshold",
        "metric": "power_w",
        "operator": ">",
        "threshold": 0.0,
        "for_s": 0,
    }
    return str(rule_service().create(caller_of(user_id, role), fields)["id"])


def open_alert(user_id: str, role: str, device_id: str) -> str:
    """A new open alert on the user's meter: a fresh rule, then a reading that breaches it."""
    from gridshare.alerts.models import AlertModel
    from gridshare.alerts.service import evaluator
    from gridshare.kernel.clock import now_ms

    rule_id = create_rule(user_id, role, device_id)
    device = {"id": device_id, "ownerId": user_id, "type": "meter"}
    evaluator().readings_accepted(readings_accepted(device, (now_ms(), {"power_w": 100.0}))["detail"])
    (alert,) = [a for a in AlertModel.by_device.query(device_id) if a.rule_id == rule_id]
    return str(alert.id)
