"""The optional Timestream sink (decision 0020): accepted readings to Timestream for LiveAnalytics.

Off by default (CDK context `timestream`; `GS_TIMESTREAM=true` for the local stack). When on, the telemetry
construct subscribes a queue to ingest's `ReadingsAccepted` events (docs/events.md) and this consumer
writes each event's readings as multi-measure records (gridshare.telemetry.timestream_records), at most
100 per WriteRecords. A record Timestream rejects fails its SQS message, which is retried and then
dead-lettered (alarmed): nothing is dropped silently. Records rewritten by a retry are identical
(same dimensions, time and version), which Timestream accepts.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.kernel.aws import client
from gridshare.kernel.observability import correlate, lambda_request_id, metrics, observed
from gridshare.kernel.settings import get_settings
from gridshare.kernel.sqs_batch import SqsRecord, process_partial_response
from gridshare.telemetry import timestream_records as TR

logger = logging.getLogger("gridshare.telemetry.timestream_sink")


def write(records: list[dict[str, Any]]) -> int:
    settings = get_settings()
    writer = client("timestream-write")
    for batch in TR.batches(records):
        writer.write_records(
            DatabaseName=settings.timestream_database, TableName=settings.timestream_table, Records=batch
        )
    return len(records)


def handle_record(record: SqsRecord) -> int:
    with correlate(record.message_id):
        event: dict[str, Any] = json.loads(record.body)
        readings = event.get("detail", {}).get("readings", [])
        try:
            records = TR.records(readings)
        except TR.NotARecord:
            logger.exception("ReadingsAccepted event that breaks the contract", extra={"id": event.get("id")})
            raise
        written = write(records)
        metrics().add_metric(name="TimestreamRecordsWritten", unit=MetricUnit.Count, value=written)
        return written


@observed(correlation_id=lambda_request_id)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, handle_record)
