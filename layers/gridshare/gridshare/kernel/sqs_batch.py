"""SQS batches with partial failures (Lambda's `ReportBatchItemFailures`), without Powertools' batch utility.

Same semantics as Powertools' `process_partial_response` with `BatchProcessor(EventType.SQS)`, which every
SQS entry used before (importing it cost ~35 ms of each cold start: asyncio, every event source's data
classes): each record is handed to the record handler in order; a record whose handler raises an
`Exception` is reported in `batchItemFailures` by its `messageId` (SQS redelivers only those); when every
record of the batch failed, `BatchProcessingError` is raised instead (the whole batch returns to the queue,
and the failure is visible as a Lambda error); an event without a non-empty `Records` list raises
`UnexpectedBatchType`. Each call is independent: no processor state is shared between batches or threads.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

logger = logging.getLogger("gridshare.kernel.sqs_batch")

ExceptionInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class BatchProcessingError(Exception):
    """Every record of the batch failed; `child_exceptions` holds each record's exception info."""

    def __init__(self, msg: str, child_exceptions: list[ExceptionInfo]) -> None:
        super().__init__(msg)
        self.msg = msg
        self.child_exceptions = child_exceptions

    def __str__(self) -> str:
        parts = [f"{super().__str__()}\n"]
        parts.extend("".join(traceback.format_exception(*info)) for info in self.child_exceptions)
        return "\n".join(parts)


class UnexpectedBatchType(BatchProcessingError):
    """The event is not a batch: no `Records` list, or an empty one."""


class _DictView(Mapping[str, Any]):
    """A read-only view of an event dict, its keys as they came."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class SqsRecordAttributes(_DictView):
    """A record's `attributes` (the names Powertools' SQSRecordAttributes gave them)."""

    @property
    def sent_timestamp(self) -> str:
        """When the message was sent to the queue (epoch ms, as a string)."""
        return str(self._data["SentTimestamp"])

    @property
    def approximate_receive_count(self) -> str:
        return str(self._data["ApproximateReceiveCount"])


class SqsRecord(_DictView):
    """One record of an SQS event: the raw dict, with `message_id`, `body` and `attributes`."""

    @property
    def raw_event(self) -> dict[str, Any]:
        return self._data

    @property
    def message_id(self) -> str:
        return str(self._data["messageId"])

    @property
    def body(self) -> str:
        return str(self._data["body"])

    @property
    def attributes(self) -> SqsRecordAttributes:
        return SqsRecordAttributes(self._data["attributes"])


def process_partial_response(event: dict[str, Any], record_handler: Callable[[SqsRecord], Any]) -> dict[str, Any]:
    """Run `record_handler` on each record; `{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`."""
    records = event.get("Records", [])
    if not records or not isinstance(records, list):
        raise UnexpectedBatchType("Unexpected batch event type: an SQS event has a non-empty Records list", [])
    failed: list[dict[str, Any]] = []
    exceptions: list[ExceptionInfo] = []
    for raw in records:
        record = SqsRecord(raw)
        try:
            record_handler(record)
        except Exception as exc:
            logger.debug("record processing exception: %s:%s", type(exc), exc)
            exceptions.append((type(exc), exc, exc.__traceback__))
            failed.append(raw)
    if failed and len(exceptions) == len(records):
        raise BatchProcessingError(
            f"All records failed processing. {len(exceptions)} individual errors logged separately below.", exceptions
        )
    return {"batchItemFailures": [{"itemIdentifier": raw["messageId"]} for raw in failed]}
