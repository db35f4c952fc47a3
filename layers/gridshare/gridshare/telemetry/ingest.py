"""Ingest Lambda: SQS batches from the telemetry IoT rule, with partial batch failures.

Each record body is the rule's projection: {"payload": base64 of the device's bytes, "thing_name",
"received_at"}. Invalid messages are dead-lettered by the service (the record succeeds); only transient
failures (throttling, a dependency down) fail the record, so SQS retries it and, past maxReceiveCount,
moves it to the queue's DLQ.

Observed like every entry (gridshare.kernel.observability): a record's log lines carry its SQS
messageId as correlation id, and the per-outcome reading counts are flushed as EMF metrics.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.kernel.clock import now_ms
from gridshare.kernel.observability import correlate, lambda_request_id, metrics, observed
from gridshare.kernel.sqs_batch import SqsRecord, process_partial_response
from gridshare.telemetry.reading_events import ReadingsPublisher
from gridshare.telemetry.readings import Reason
from gridshare.telemetry.service import IngestOutcome, TelemetryService, telemetry_service

logger = logging.getLogger("gridshare.telemetry.ingest")
_accepted: list[dict[str, Any]] = []  # the batch's accepted readings, published after it (reading_events)
# Readings per outcome in the batch, added as one EMF value per outcome after it: Powertools' add_metric
# costs ~5-12 µs, about as much as ingesting the reading (bench/bench_telemetry_pure.py). CloudWatch's Sum
# of `Readings_<outcome>` is the same; its SampleCount counts batches instead of readings.
_outcomes: dict[str, int] = {}
_publisher: ReadingsPublisher | None = None


def _readings_publisher() -> ReadingsPublisher:
    global _publisher
    if _publisher is None:
        _publisher = ReadingsPublisher()
    return _publisher


def _telemetry() -> TelemetryService:
    return telemetry_service()


def handle_record(record: SqsRecord) -> str:
    with correlate(record.message_id):
        return _handle_record(record)


def _handle_record(record: SqsRecord) -> str:
    try:
        envelope: dict[str, Any] = json.loads(record.body)
        thing_name = str(envelope["thing_name"])
        payload = base64.b64decode(envelope["payload"], validate=True)
        received_at = int(envelope.get("received_at") or now_ms())
    except (ValueError, KeyError, binascii.Error, TypeError):
        # Not the rule's projection at all: keep it, with the reason, as the bytes SQS holds. The arrival
        # time is the SQS sent timestamp, so a redelivery maps to the same dead letter.
        sent = int(record.attributes.sent_timestamp or now_ms())
        letter = _telemetry().dead_letters.put(
            thing_name=None,
            device_id=None,
            topic=None,
            payload=record.body.encode(),
            received_at=sent,
            reasons=[Reason("$", "the SQS message is not the telemetry rule's projection {payload, thing_name}")],
        )
        logger.warning("malformed envelope dead-lettered", extra={"deadLetterId": letter})
        return IngestOutcome.DEAD_LETTERED.value
    result = _telemetry().process(thing_name, payload, received_at, topic=f"gs/v1/{thing_name}/telemetry")
    outcome = result.outcome.value
    _outcomes[outcome] = _outcomes.get(outcome, 0) + 1
    if result.accepted is not None:
        _accepted.append(result.accepted)
    if result.outcome is IngestOutcome.DEAD_LETTERED:
        logger.info(
            "dead-lettered",
            extra={
                "thing": thing_name,
                "deadLetterId": result.dead_letter_id,
                "reasons": [r.field for r in result.reasons],
            },
        )
    return outcome


@observed(correlation_id=lambda_request_id)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _accepted.clear()
    _outcomes.clear()
    try:
        return process_partial_response(event, handle_record)
    finally:
        for outcome, count in _outcomes.items():
            metrics().add_metric(name=f"Readings_{outcome}", unit=MetricUnit.Count, value=count)
        _outcomes.clear()
        if _accepted:
            _readings_publisher().publish(list(_accepted))  # one PutEvents per batch; never fails the ingest
            _accepted.clear()
