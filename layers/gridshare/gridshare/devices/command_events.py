"""The Lambda entries of device commands: acks from devices (SQS, fed by the commands-ack IoT rule) and the
expiry schedule (EventBridge Scheduler, every minute).

Each ack record body is the rule's projection (iot_rules/command_acks.json): {"payload": base64 of the
device's bytes, "thing_name": topic(3), "received_at"}. An ack that cannot be used (not JSON, no command
id, no such command for that thing) goes to the devices' dead letters with its reason
(gridshare.devices.dead_letters): the device cannot be told, and retrying would not help. Only transient
failures fail the record, so SQS redelivers it (then its DLQ).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.devices.command_service import command_service
from gridshare.kernel.clock import now_ms
from gridshare.kernel.observability import correlate, lambda_request_id, metrics, observed
from gridshare.kernel.sqs_batch import SqsRecord, process_partial_response

logger = logging.getLogger("gridshare.devices.command_events")


def handle_ack_record(record: SqsRecord) -> str:
    with correlate(record.message_id):
        thing_name: str | None = None
        payload: bytes = record.body.encode()
        received_at = now_ms()
        reason = "not the rule's projection"
        try:
            envelope: dict[str, Any] = json.loads(record.body)
            thing_name = str(envelope["thing_name"])
            received_at = int(envelope.get("received_at") or received_at)
            payload = base64.b64decode(envelope["payload"], validate=True)
            reason = "not JSON"  # the device's own bytes, from here on
            document = json.loads(payload)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            logger.warning("command ack dead-lettered", extra={"thing": thing_name, "reason": reason})
            command_service().dead_letter(thing_name, payload, received_at, [("payload", f"{reason}: {exc}")])
            outcome = "invalid"
        else:
            outcome = command_service().acknowledge(thing_name, document, received_at, payload=payload)
        metrics().add_metric(name=f"CommandAcks_{outcome}", unit=MetricUnit.Count, value=1)
        return outcome


@observed(correlation_id=lambda_request_id)
def ack_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_ack_record)


@observed(correlation_id=lambda_request_id)
def expiry_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduler's input is ignored: "now" is the kernel clock's."""
    moved = command_service().expire_overdue()
    metrics().add_metric(name="CommandsTimedOut", unit=MetricUnit.Count, value=moved)
    if moved:
        logger.info("commands timed out", extra={"count": moved})
    return {"timedOut": moved}
