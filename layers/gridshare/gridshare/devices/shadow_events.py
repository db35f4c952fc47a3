"""The Lambda entry of shadow documents (SQS, fed by the shadow-documents IoT rule on
`$aws/things/+/shadow/update/documents`): the reported firmwareVersion reaches the device record.

Each record body is the rule's projection (iot_rules/shadow_documents.json): {"payload": base64 of the
documents IoT Core published, "thing_name": topic(3), "received_at"}. A document that cannot be used is
logged and dropped (retrying would not help); only transient failures fail the record (then its DLQ).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.devices.config_service import config_service
from gridshare.kernel.observability import correlate, lambda_request_id, metrics, observed
from gridshare.kernel.sqs_batch import SqsRecord, process_partial_response

logger = logging.getLogger("gridshare.devices.shadow_events")


def handle_documents_record(record: SqsRecord) -> str:
    with correlate(record.message_id):
        try:
            envelope: dict[str, Any] = json.loads(record.body)
            thing_name = str(envelope["thing_name"])
            document = json.loads(base64.b64decode(envelope["payload"], validate=True))
        except (ValueError, KeyError, TypeError, binascii.Error):
            logger.warning("shadow documents dropped: not the rule's projection of a JSON document")
            outcome = "invalid"
        else:
            outcome = config_service().record_documents(thing_name, document)
        metrics().add_metric(name=f"ShadowDocuments_{outcome}", unit=MetricUnit.Count, value=1)
        return outcome


@observed(correlation_id=lambda_request_id)
def documents_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_documents_record)
