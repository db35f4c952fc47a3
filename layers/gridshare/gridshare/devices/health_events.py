"""The Lambda entries of device health: heartbeats from devices (SQS, fed by the heartbeat IoT rule) and the
offline schedule (EventBridge Scheduler, every minute).

Each heartbeat record body is the rule's projection (iot_rules/heartbeat.json): {"thing_name": topic(3),
"received_at"}. A heartbeat from a thing no device is called is logged and dropped; only transient failures
fail the record, so SQS redelivers it (then its DLQ).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.devices.health_service import health_service
from gridshare.devices.service import DeviceService, note_seen
from gridshare.kernel.clock import now_ms
from gridshare.kernel.observability import correlate, lambda_request_id, metrics, observed
from gridshare.kernel.sqs_batch import SqsRecord, process_partial_response

logger = logging.getLogger("gridshare.devices.health_events")
_things: dict[str, str] = {}  # thing name -> device id, per container (a device's thing name never changes)


def _device_id(thing_name: str) -> str | None:
    if thing_name not in _things:
        device = DeviceService.find_by_thing(thing_name)
        if device is None:
            return None
        _things[thing_name] = device.id
    return _things[thing_name]


def handle_heartbeat_record(record: SqsRecord) -> str:
    with correlate(record.message_id):
        try:
            envelope: dict[str, Any] = json.loads(record.body)
            thing_name = str(envelope["thing_name"])
            received_at = int(envelope.get("received_at") or now_ms())
        except (ValueError, KeyError, TypeError):
            logger.warning("heartbeat dropped: not the rule's projection")
            outcome = "invalid"
        else:
            device_id = _device_id(thing_name)
            if device_id is None:
                logger.warning("heartbeat from no registered device", extra={"thing": thing_name})
                outcome = "unknown"
            else:
                outcome = note_seen(device_id, received_at)
        metrics().add_metric(name=f"Heartbeats_{outcome}", unit=MetricUnit.Count, value=1)
        return outcome


@observed(correlation_id=lambda_request_id)
def heartbeat_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_heartbeat_record)


@observed(correlation_id=lambda_request_id)
def sweep_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduler's input is ignored: "now" is the kernel clock's."""
    moved = health_service().mark_silent_offline()
    metrics().add_metric(name="DevicesWentOffline", unit=MetricUnit.Count, value=moved)
    if moved:
        logger.info("devices went offline", extra={"count": moved})
    return {"offline": moved}
