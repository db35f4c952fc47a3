"""Logs, metrics and traces of every Lambda entry point, set up in this one module.

Every deployed entry runs through `LambdaEntry`: each context's Chalice app (gridshare.app_factory wraps
its `__call__`), the telemetry ingest handler and the API Gateway authorizer (`@observed`). Per invocation:

- **Logs** are JSON lines on stdout (Powertools Logger) with `service` (POWERTOOLS_SERVICE_NAME, set per
  function by CDK), the Lambda context (function, request id, cold start) and `correlation_id`: API
  Gateway's `requestId` for API events (the id in the access log and in the `x-amzn-RequestId` response
  header); for events that carry no id of their own, the invocation's request id: a TOKEN authorizer
  (the access log's `authorizerRequestId` joins it to the request) and an SQS batch, whose records each
  get their `messageId` while they are processed (`correlate`). Our modules keep logging with plain
  `logging.getLogger("gridshare....")`: the whole `gridshare` logger tree goes to the same JSON handler,
  so a line from deep inside a service carries the request's id too. That tree does not propagate to
  the root logger (Lambda's runtime handler would print each line a second time): tests read log lines
  with capsys, not caplog.
- **Metrics** (CloudWatch EMF, Powertools Metrics) are flushed after each invocation, with a ColdStart
  metric; code adds its own through `metrics()`.
- **Traces**: the handler runs in an X-Ray subsegment and botocore calls are traced (Powertools Tracer),
  but only where an X-Ray trace exists: on Lambda with active tracing (`_X_AMZN_TRACE_ID` is set for the
  invocation) and unless POWERTOOLS_TRACE_DISABLED. Tracer imports aws_xray_sdk (~90 ms of cold start)
  and patches botocore; tests and the local stack have no X-Ray daemon, so they never pay for it.
  Responses are not recorded in traces (they hold tokens and personal data).

The first invocation also ends the init phase's run without the cyclic garbage collector: it runs with
young collections only, then freezes what it kept (on Lambda: gridshare.kernel.init_phase, decision 0035).

The instruments are built on the first invocation, never at import: POWERTOOLS_* are read then (a test
sets them first) and importing a function stays cheap. They are cached per service name, so one Lambda
container builds them once.

On Lambda a container handles one event at a time. The local stack's API server is threaded: there,
concurrent requests share the logger's keys, so a line may carry another request's correlation id.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import Metrics

from gridshare.kernel import init_phase

if TYPE_CHECKING:
    from aws_lambda_powertools.tracing import Tracer

Handler = Callable[[dict[str, Any], Any], Any]
CorrelationId = Callable[[dict[str, Any], Any], str | None]

SERVICE_ENV = "POWERTOOLS_SERVICE_NAME"
NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
# CDK sets the namespace on every function (infra_cdk.constants.SERVICE_NAMESPACE); without one, Powertools
# would refuse to flush and fail the invocation.
DEFAULT_NAMESPACE = "Gridshare"
TRACE_DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"
LAMBDA_FUNCTION_ENV = "AWS_LAMBDA_FUNCTION_NAME"
TRACE_ID_ENV = "_X_AMZN_TRACE_ID"  # set by Lambda for each invocation when the function is traced
LOGGER_TREE = "gridshare"

_entries = logging.getLogger("gridshare.lambda")
# Most API invocations add no metric of their own: Powertools would warn about it on every one of them.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def api_gateway_request_id(event: dict[str, Any], context: Any) -> str | None:
    """API Gateway's id of the request (REST proxy events)."""
    request_context = event.get("requestContext") or {}
    value = request_context.get("requestId") if isinstance(request_context, dict) else None
    return str(value) if value else lambda_request_id(event, context)


def lambda_request_id(event: dict[str, Any], context: Any) -> str | None:
    """The invocation's own id, for events without one (a TOKEN authorizer event, an SQS batch)."""
    value = getattr(context, "aws_request_id", None)
    return str(value) if value else None


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is when a line is written, not when the handler was made.

    Lambda's stdout never changes; pytest swaps it for each test (capsys), and the instruments outlive a
    test, so a handler holding the first test's stream would write into a closed buffer afterwards.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        """StreamHandler assigns its stream; there is nothing to keep."""


@dataclass(frozen=True, eq=False)
class Instruments:
    """A service's logger, metrics and (where traced) tracer: one of each per Lambda container."""

    service: str
    logger: Logger
    metrics: Metrics
    tracer: Tracer | None


def tracing_enabled() -> bool:
    """True only on Lambda with an X-Ray trace for this invocation, and unless tracing is switched off."""
    disabled = os.environ.get(TRACE_DISABLED_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    return bool(os.environ.get(LAMBDA_FUNCTION_ENV)) and bool(os.environ.get(TRACE_ID_ENV)) and not disabled


def _tracer(service: str) -> Tracer | None:
    """A Tracer (imports aws_xray_sdk, patches botocore), or None: observability must never fail a call."""
    try:
        from aws_lambda_powertools.tracing import Tracer

        return Tracer(service=service)
    except ImportError:
        _entries.warning("aws_xray_sdk is not installed: this function runs untraced", exc_info=True)
        return None


_built: dict[tuple[str, bool], Instruments] = {}
_build_lock = threading.Lock()


def instruments() -> Instruments:
    """The current service's instruments (POWERTOOLS_SERVICE_NAME), built on first use."""
    # Unnamed: Powertools' own default. Never "gridshare": that Logger would be the tree's root itself, which
    # Powertools leaves propagating to the root logger.
    key = (os.environ.get(SERVICE_ENV) or "service_undefined", tracing_enabled())
    found = _built.get(key)
    if found is None:
        # Built once: a second Powertools Logger for the same service would get a handler nobody attached.
        with _build_lock:
            found = _built.get(key)
            if found is None:
                service, traced = key
                found = _built[key] = Instruments(
                    service=service,
                    logger=Logger(service=service, logger_handler=_CurrentStdout()),
                    metrics=Metrics(service=service, namespace=os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE),
                    tracer=_tracer(service) if traced else None,
                )
    return found


def metrics() -> Metrics:
    """Where code adds its metrics; they are flushed when the invocation ends."""
    return instruments().metrics


def _route_logs_to(logger: Logger) -> None:
    """Send the `gridshare` logger tree to this service's JSON handler (once per container on Lambda)."""
    tree = logging.getLogger(LOGGER_TREE)
    if tree.handlers != [logger.logger_handler]:
        copy_config_to_registered_loggers(source_logger=logger, include={LOGGER_TREE})


@contextmanager
def correlate(correlation_id: str | None) -> Iterator[None]:
    """Log with this correlation id inside the block (an SQS record's messageId), then the previous one."""
    logger = instruments().logger
    previous = logger.get_correlation_id()
    logger.set_correlation_id(correlation_id)
    try:
        yield
    finally:
        logger.set_correlation_id(previous)


class LambdaEntry:
    """A Lambda handler run with the instruments of the function's service.

    `correlation_id(event, context)` says which id ties the invocation's log lines together.
    """

    def __init__(self, handler: Handler, *, correlation_id: CorrelationId, name: str | None = None) -> None:
        self._handler = handler
        self._correlation_id = correlation_id
        self.name: str = name or str(getattr(handler, "__name__", "handler"))
        self._wrapped: dict[Instruments, Handler] = {}
        functools.update_wrapper(self, handler, updated=())  # the handler's name and docstring

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        if init_phase.in_progress():  # the first invocation: what it and the imports built is kept for good
            with init_phase.first_invocation():
                return self._invoke(event, context)
        return self._invoke(event, context)

    def _invoke(self, event: dict[str, Any], context: Any) -> Any:
        tools = instruments()
        wrapped = self._wrapped.get(tools)
        if wrapped is None:
            wrapped = self._wrapped.setdefault(tools, self._instrument(tools))
        _route_logs_to(tools.logger)
        return wrapped(event, context)

    def _instrument(self, tools: Instruments) -> Handler:
        handler, correlation_id = self._handler, self._correlation_id

        def run(event: dict[str, Any], context: Any) -> Any:
            tools.logger.set_correlation_id(correlation_id(event, context))
            started = time.perf_counter()
            outcome = "error"
            try:
                result = handler(event, context)
                outcome = "ok"
                return result
            finally:
                _entries.debug(
                    "invocation finished",
                    extra={"outcome": outcome, "duration_ms": round((time.perf_counter() - started) * 1000, 1)},
                )

        run.__name__ = run.__qualname__ = self.name  # the X-Ray subsegment is "## <name>"
        # Powertools' documented order: logger outermost (every line has the context), metrics innermost.
        wrapped: Handler = tools.metrics.log_metrics(run, capture_cold_start_metric=True)
        if tools.tracer is not None:
            wrapped = tools.tracer.capture_lambda_handler(wrapped, capture_response=False)
        # Keys are replaced on each invocation (context, cold start, correlation id), not cleared: clearing
        # would also drop the logger-name key that routing the `gridshare` tree adds.
        instrumented: Handler = tools.logger.inject_lambda_context(wrapped)
        return instrumented


def observed(*, correlation_id: CorrelationId) -> Callable[[Handler], LambdaEntry]:
    """Decorator form of LambdaEntry, for plain Lambda handlers."""

    def wrap(handler: Handler) -> LambdaEntry:
        return LambdaEntry(handler, correlation_id=correlation_id)

    return wrap
