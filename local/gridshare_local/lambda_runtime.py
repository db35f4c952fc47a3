"""Runs our Lambda handlers in-process, as the local stack's stand-in for the Lambda service.

- `LambdaContext`: the few attributes Powertools and our handlers read.
- `QueuePoller`: an SQS event source mapping (moto never runs them): receives batches, invokes the
  handler with an SQS event, deletes what succeeded and leaves `batchItemFailures` for redelivery, so
  the queue's redrive policy moves poison messages to its DLQ as on AWS.
- `install_lambda_dispatcher`: Step Functions Lambda tasks in moto call LambdaSimpleBackend.invoke;
  this routes them to our handlers (a failing handler becomes a task failure).
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gridshare.kernel.aws import new_client

logger = logging.getLogger("gridshare.local.lambda")


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


# One import at a time: every poller thread imports its handler when it starts, and two threads importing
# modules with a circular import between them (aws_lambda_powertools.metrics) can see one partially
# initialized ("cannot import name 'Metrics' from partially initialized module"), which stopped `gridshare up`.
_IMPORT_LOCK = threading.RLock()


def load_handler(dotted: str) -> Callable[[dict[str, Any], Any], Any]:
    module, _, name = dotted.rpartition(".")
    with _IMPORT_LOCK:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


class QueuePoller(threading.Thread):
    def __init__(
        self, queue_url: str, queue_arn: str, handler: str, batch_size: int = 10, region: str = "us-east-1"
    ) -> None:
        super().__init__(name=f"poller-{queue_url.rsplit('/', 1)[-1]}", daemon=True)
        self.queue_url, self.queue_arn, self.batch_size, self.region = queue_url, queue_arn, batch_size, region
        self.handler_path = handler
        self._stop = threading.Event()
        self.batches = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        sqs = new_client("sqs", region_name=self.region)
        handler = load_handler(self.handler_path)
        while not self._stop.is_set():
            try:
                self.poll_once(sqs, handler)
            except Exception:  # keep polling, as the Lambda service would
                logger.exception("poller for %s failed", self.queue_url)
                self._stop.wait(1)

    def poll_once(self, sqs: Any, handler: Callable[[dict[str, Any], Any], Any]) -> int:
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                }
                for m in messages
            ]
        }
        try:
            response = handler(event, LambdaContext(self.handler_path.split(".")[1])) or {}
        except Exception:
            logger.exception("handler %s raised; the batch will be redelivered", self.handler_path)
            return 0
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)
            if m["MessageId"] not in failed
        ]
        if done:
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        self.batches += 1
        return len(done)


_DISPATCH: dict[str, str] = {}


def invoke_local(function: str, event: dict[str, Any]) -> Any:
    """Invoke a registered function (by name or ARN) in-process, as the Lambda service would."""
    name = function.split(":function:")[-1].split(":")[0]
    return load_handler(_DISPATCH[name])(event, LambdaContext(name))


def install_lambda_dispatcher(functions: dict[str, str]) -> None:
    """Route moto's in-process Lambda invocations (Step Functions tasks) to our handlers by name."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    _DISPATCH.update(functions)

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        name = function_name.split(":function:")[-1].split(":")[0]
        if name not in _DISPATCH:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorType": "ResourceNotFound", "errorMessage": f"no local handler for {name}"}
            ).encode()
        try:
            result = load_handler(_DISPATCH[name])(json.loads(body or "{}"), LambdaContext(name))
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
