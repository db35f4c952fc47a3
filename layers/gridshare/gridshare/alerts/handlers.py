"""The Lambda entries of the alert lifecycle: the evaluator (SQS queue `alerts-events`, fed by the
EventBridge rules of resources.EVENT_RULES) and the reminder schedule (every minute).

Each evaluator record body is an EventBridge event as the rule delivers it: {"source", "detail-type",
"detail", ...}. ReadingsAccepted and DeviceStatusChanged are evaluated; anything else is logged and
dropped; a record whose detail is not the contract's is dropped with a warning (retrying cannot fix it);
only transient failures fail the record, so SQS redelivers it (then its DLQ).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.alerts.service import evaluator, reminders
from gridshare.kernel.clock import now_ms
from gridshare.kernel.observability import correlate, lambda_request_id, metrics, observed
from gridshare.kernel.sqs_batch import SqsRecord, process_partial_response

logger = logging.getLogger("gridshare.alerts.handlers")

READINGS_ACCEPTED = ("gridshare.telemetry", "ReadingsAccepted")
DEVICE_STATUS_CHANGED = ("gridshare.devices", "DeviceStatusChanged")


def handle_event_record(record: SqsRecord) -> int:
    with correlate(record.message_id):
        try:
            event: dict[str, Any] = json.loads(record.body)
            kind = (str(event["source"]), str(event["detail-type"]))
            detail = event["detail"]
            if not isinstance(detail, dict):
                raise TypeError("detail")
        except (ValueError, KeyError, TypeError):
            logger.warning("alert event dropped: not an EventBridge event")
            return 0
        try:
            if kind == READINGS_ACCEPTED:
                done = evaluator().readings_accepted(detail)
            elif kind == DEVICE_STATUS_CHANGED:
                done = evaluator().status_changed(detail)
            else:
                logger.warning("alert event dropped: not subscribed", extra={"source": kind[0], "type": kind[1]})
                return 0
        except (KeyError, ValueError, TypeError) as exc:
            logger.warning("alert event dropped: detail not as contracted", extra={"error": str(exc)})
            return 0
        metrics().add_metric(name="AlertEvaluations", unit=MetricUnit.Count, value=done)
        return done


@observed(correlation_id=lambda_request_id)
def evaluator_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_event_record)


@observed(correlation_id=lambda_request_id)
def reminders_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Every minute: reminders and escalations, and, once per closed quarter-hour, the baseline rules
    (generation_drop / consumption_spike; one schedule and function for both keeps the stack within
    CloudFormation's resource limit, decision 0017). Scheduler's input is ignored: "now" is the kernel
    clock's."""
    sent = reminders().run()
    sent["baselines"] = evaluator().baselines(now_ms())  # once per closed quarter-hour (a claimed marker)
    metrics().add_metric(name="AlertReminders", unit=MetricUnit.Count, value=sent["reminders"])
    metrics().add_metric(name="AlertEscalations", unit=MetricUnit.Count, value=sent["escalations"])
    metrics().add_metric(name="AlertBaselinesJudged", unit=MetricUnit.Count, value=sent["baselines"])
    return sent
