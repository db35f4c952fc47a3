"""The Lambda entries of notifications: the notifier (alert events; settlement events from their own queue), the
delivery worker, live pushes (SQS batches with partial failures) and the WebSocket routes (docs/notifications.md).

An event record's body is EventBridge's envelope (`source`, `detail-type`, `detail`), delivered by the rules of
gridshare.kernel.resources.EVENT_RULES. A record that breaks the contract is logged and dropped (a retry cannot
fix it); any other failure fails the record, so SQS redelivers it and, in the end, moves it to its DLQ.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.kernel.clock import now_ms
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.observability import correlate, lambda_request_id, metrics, observed
from gridshare.kernel.sqs_batch import SqsRecord, process_partial_response
from gridshare.notifications import settlement_notices as S
from gridshare.notifications.live import LivePush
from gridshare.notifications.notifier import ALERT_EVENTS, DeliveryWorker, InvalidEvent, Notifier, parse_alert_event
from gridshare.notifications.websocket import WebSocketRoutes

logger = logging.getLogger("gridshare.notifications.entries")
notifier = ServiceFactory(Notifier)
delivery_worker = ServiceFactory(DeliveryWorker)
live_push = ServiceFactory(LivePush)
websocket_routes = ServiceFactory(WebSocketRoutes)


def _envelope(record: SqsRecord) -> tuple[str, dict[str, Any]]:
    try:
        envelope = json.loads(record.body)
        return str(envelope["detail-type"]), dict(envelope["detail"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidEvent(f"not an EventBridge event: {exc}") from None


def handle_alert_record(record: SqsRecord) -> str:
    with correlate(record.message_id):
        try:
            detail_type, detail = _envelope(record)
            if detail_type not in ALERT_EVENTS:
                raise InvalidEvent(f"unexpected detail type {detail_type}")
            deliveries = notifier().fan_out(parse_alert_event(detail_type, detail))
        except InvalidEvent as exc:
            logger.warning("alert event dropped", extra={"error": str(exc)})
            return "invalid"
        metrics().add_metric(name="DeliveriesQueued", unit=MetricUnit.Count, value=len(deliveries))
        return "queued"


def handle_settlement_record(record: SqsRecord) -> str:
    """One event of `notifications-settlement`: SettlementCompleted (a chunk of parties) or SettlementFailed."""
    with correlate(record.message_id):
        try:
            detail_type, detail = _envelope(record)
            deliveries = notifier().notify_settlement(S.parse(detail_type, detail, now_ms()))
        except (InvalidEvent, S.NoticeError) as exc:
            logger.warning("settlement event dropped", extra={"error": str(exc)})
            return "invalid"
        metrics().add_metric(name="SettlementDeliveriesQueued", unit=MetricUnit.Count, value=len(deliveries))
        return "queued"


def handle_delivery_record(record: SqsRecord) -> str:
    with correlate(record.message_id):
        try:
            delivery = json.loads(record.body)
            channel = str(delivery["channel"])
        except (ValueError, KeyError, TypeError):
            logger.warning("delivery dropped: not a delivery")
            return "invalid"
        try:
            outcome = delivery_worker().deliver(delivery)
        except Exception:
            metrics().add_metric(name=f"DeliveryFailed_{channel}", unit=MetricUnit.Count, value=1)
            raise
        metrics().add_metric(name=f"Delivery_{channel}_{outcome}", unit=MetricUnit.Count, value=1)
        return outcome


def handle_live_record(record: SqsRecord) -> str:
    with correlate(record.message_id):
        try:
            detail_type, detail = _envelope(record)
        except InvalidEvent as exc:
            logger.warning("live event dropped", extra={"error": str(exc)})
            return "invalid"
        push = live_push()
        if detail_type == "ReadingsAccepted":
            sent = push.readings(detail)
        elif detail_type == "DeviceStatusChanged":
            sent = push.status(detail)
        elif detail_type == "CommandUpdated":
            sent = push.command(detail)
        elif detail_type == "TradeExecuted":
            sent = push.trade(detail)
        elif detail_type == "OrderUpdated":
            sent = push.order(detail)
        else:
            return "ignored"
        metrics().add_metric(name="LivePushes", unit=MetricUnit.Count, value=sent)
        return "pushed"


@observed(correlation_id=lambda_request_id)
def alert_events_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_alert_record)


@observed(correlation_id=lambda_request_id)
def settlement_events_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_settlement_record)


@observed(correlation_id=lambda_request_id)
def deliveries_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_delivery_record)


@observed(correlation_id=lambda_request_id)
def live_events_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_live_record)


def _connection_id(event: dict[str, Any], context: Any) -> str | None:
    return (event.get("requestContext") or {}).get("requestId") or lambda_request_id(event, context)


@observed(correlation_id=_connection_id)
def websocket_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return websocket_routes().handle(event)
