"""gridshare.kernel.sqs_batch answers exactly as Powertools' batch utility did (the SQS entries used it)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch import process_partial_response as powertools_process
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError as PowertoolsBatchError

from gridshare.kernel import sqs_batch
from tests.support.events import load_event


def _batch(outcomes: tuple[str, ...]) -> dict[str, Any]:
    """An SQS batch whose record bodies say what the handler does with them."""
    template = load_event("sqs_telemetry_batch")["Records"][0]
    return {"Records": [{**template, "messageId": f"m-{i}", "body": o} for i, o in enumerate(outcomes)]}


def _handler(record: Any) -> str:
    if record.body == "fail":
        raise RuntimeError(f"transient failure of {record.message_id}")
    if record.body == "bad-key":
        raise KeyError("missing")
    return f"{record.message_id} at {record.attributes.sent_timestamp}"


def _answer(run: Any) -> tuple[str, Any]:
    try:
        return "ok", run()
    except (sqs_batch.BatchProcessingError, PowertoolsBatchError) as exc:
        return "all failed", str(exc).splitlines()[0]


@pytest.mark.parametrize(
    "outcomes",
    [c for n in range(1, 5) for c in itertools.product(("ok", "fail", "bad-key"), repeat=n)],
)
def test_partial_failures_are_reported_as_powertools_reported_them(outcomes: tuple[str, ...]) -> None:
    # Given a batch where some records' handlers raise
    event = _batch(outcomes)
    # When both implementations process it
    ours = _answer(lambda: sqs_batch.process_partial_response(event, _handler))
    theirs = _answer(
        lambda: powertools_process(
            event=event, record_handler=_handler, processor=BatchProcessor(event_type=EventType.SQS)
        )
    )
    # Then the answers are the same: the failed messageIds, or an error when every record failed
    assert ours == theirs
    if "ok" in outcomes:
        failed = [f"m-{i}" for i, o in enumerate(outcomes) if o != "ok"]
        assert ours == ("ok", {"batchItemFailures": [{"itemIdentifier": m} for m in failed]})
    else:
        assert ours[0] == "all failed"


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": "not a list"}])
def test_an_event_that_is_not_a_batch_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(sqs_batch.UnexpectedBatchType):
        sqs_batch.process_partial_response(event, _handler)
    with pytest.raises(PowertoolsBatchError):
        powertools_process(event=event, record_handler=_handler, processor=BatchProcessor(event_type=EventType.SQS))


def test_when_every_record_fails_the_error_carries_each_records_exception() -> None:
    with pytest.raises(sqs_batch.BatchProcessingError) as raised:
        sqs_batch.process_partial_response(_batch(("fail", "bad-key")), _handler)
    assert [type(info[1]) for info in raised.value.child_exceptions] == [RuntimeError, KeyError]
    assert "transient failure of m-0" in str(raised.value)


def test_a_record_exposes_what_the_handlers_read() -> None:
    raw = load_event("sqs_telemetry_batch")["Records"][0]
    record = sqs_batch.SqsRecord(raw)
    assert record.message_id == raw["messageId"]
    assert record.body == raw["body"]
    assert record.attributes.sent_timestamp == raw["attributes"]["SentTimestamp"]
    assert record.attributes.approximate_receive_count == "1"
    assert dict(record) == raw and record.raw_event is raw
