"""gridshare.kernel.observability: when tracing is on, how an entry is traced, how correlation ids nest.

The JSON lines each real entry prints are checked in tests/integration/test_lambda_entry_points.py.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from gridshare.kernel import observability
from gridshare_local.lambda_runtime import LambdaContext
from tests.support.logs import log_lines

TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> str:
    """A service name of this test only: instruments are cached per service for the process."""
    name = f"unit-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", name)
    return name


def _on_lambda(monkeypatch: pytest.MonkeyPatch, *, trace_id: str | None = TRACE_ID) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gridshare-devices-api")
    if trace_id is None:
        monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    else:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", trace_id)


@pytest.mark.parametrize(
    ("function_name", "trace_id", "disabled", "expected"),
    [
        ("gridshare-devices-api", TRACE_ID, None, True),
        ("gridshare-devices-api", TRACE_ID, "true", False),  # POWERTOOLS_TRACE_DISABLED wins
        ("gridshare-devices-api", None, None, False),  # tracing not active on the function
        (None, TRACE_ID, None, False),  # not on Lambda (tests, the local stack)
        (None, None, None, False),
    ],
)
def test_tracing_only_on_lambda_with_a_trace(
    monkeypatch: pytest.MonkeyPatch,
    function_name: str | None,
    trace_id: str | None,
    disabled: str | None,
    expected: bool,
) -> None:
    # Given the environment Lambda (or a test) sets
    for name, value in (
        ("AWS_LAMBDA_FUNCTION_NAME", function_name),
        ("_X_AMZN_TRACE_ID", trace_id),
        ("POWERTOOLS_TRACE_DISABLED", disabled),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    # When / Then
    assert observability.tracing_enabled() is expected


class FakeTracer:
    """Records how the entry asked to be traced; the subsegment is the handler's call."""

    def __init__(self) -> None:
        self.captured: list[tuple[str, bool | None]] = []

    def capture_lambda_handler(
        self, handler: Callable[..., Any], capture_response: bool | None = None
    ) -> Callable[..., Any]:
        self.captured.append((handler.__name__, capture_response))
        return handler


def test_a_traced_entry_runs_in_a_subsegment_without_its_response(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Lambda with an active trace, and a Tracer that records how it is used
    _on_lambda(monkeypatch)
    tracer = FakeTracer()
    monkeypatch.setattr(observability, "_tracer", lambda _service: tracer)
    entry = observability.LambdaEntry(
        lambda event, context: {"token": "secret"}, correlation_id=observability.lambda_request_id, name="devices-api"
    )

    # When it is invoked twice
    assert entry({}, LambdaContext("gridshare-devices-api")) == {"token": "secret"}
    assert entry({}, LambdaContext("gridshare-devices-api")) == {"token": "secret"}

    # Then the handler was wrapped once per container, named after the entry, its response kept out of traces
    assert tracer.captured == [("devices-api", False)]
    assert observability.instruments().tracer is tracer


def test_an_entry_runs_untraced_when_the_xray_sdk_is_missing(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a traced Lambda whose layer lacks aws_xray_sdk
    _on_lambda(monkeypatch)
    monkeypatch.setitem(sys.modules, "aws_xray_sdk.core", None)
    from aws_lambda_powertools.tracing import Tracer

    monkeypatch.setattr(Tracer, "_config", dict(Tracer._default_config))  # no provider cached by another test
    entry = observability.LambdaEntry(lambda event, context: "ok", correlation_id=observability.lambda_request_id)

    # When it is invoked, Then it still answers (observability never fails a call), untraced
    assert entry({}, LambdaContext("gridshare-devices-api")) == "ok"
    assert observability.instruments().tracer is None


def test_correlate_nests_and_restores_the_invocations_id(service: str) -> None:
    # Given an entry whose handler processes two records, each under its own id
    seen: list[str | None] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        logger = observability.instruments().logger
        seen.append(logger.get_correlation_id())
        for record in event["Records"]:
            with observability.correlate(record["messageId"]):
                seen.append(logger.get_correlation_id())
        seen.append(logger.get_correlation_id())

    context = LambdaContext("gridshare-telemetry-ingest")
    entry = observability.LambdaEntry(handler, correlation_id=observability.lambda_request_id)

    # When it handles a batch
    entry({"Records": [{"messageId": "m-1"}, {"messageId": "m-2"}]}, context)

    # Then each record had its id, and the batch's id was back after each
    assert seen == [context.aws_request_id, "m-1", "m-2", context.aws_request_id]


def test_api_events_are_correlated_by_api_gateways_request_id() -> None:
    context = LambdaContext("gridshare-devices-api")
    assert observability.api_gateway_request_id({"requestContext": {"requestId": "r-1"}}, context) == "r-1"
    # an event without one (Chalice's local server builds its own): the invocation's id
    assert observability.api_gateway_request_id({"requestContext": {}}, context) == context.aws_request_id


def test_gridshare_lines_are_json_on_stdout_once_even_without_a_service_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a function with no POWERTOOLS_SERVICE_NAME, whose code logs through the gridshare logger tree
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)

    def handler(event: dict[str, Any], context: Any) -> None:
        logging.getLogger("gridshare.unit.somewhere").warning("something to see")

    entry = observability.LambdaEntry(handler, correlation_id=observability.api_gateway_request_id)
    capsys.readouterr()

    # When it is invoked
    entry({"requestContext": {"requestId": "r-42"}}, LambdaContext("gridshare-unit"))

    # Then the line is JSON on stdout under Powertools' default service name, with the request's id
    (line,) = log_lines(capsys.readouterr().out, "something to see")
    assert line["service"] == "service_undefined" and line["correlation_id"] == "r-42"
    assert line["name"] == "gridshare.unit.somewhere"
    # And it did not also reach the root logger (on Lambda: the runtime's handler would print it again)
    assert not [r for r in caplog.records if r.getMessage() == "something to see"]
