"""Sample events from `events/`, as AWS sends them, loaded fresh for each test.

`load_event(name)` returns a deep copy, so a test may change it freely. Keyword overrides take dotted
paths into the document; a number steps into a list:

    load_event("apigw_rest_proxy_get_me", **{"headers.Authorization": "Bearer x"})
    load_event("sqs_telemetry_batch", **{"Records.0.messageId": "m-1"})

`telemetry_batch` rewrites the telemetry SQS batch for a device and a time, the way the IoT rule would
have produced it (thing name in each body, arrival and measurement times moved together, MD5 redone).
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


@functools.cache
def _read(name: str) -> Any:
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """The event `events/<name>.json` (the suffix is optional), with dotted-path overrides applied."""
    event: dict[str, Any] = copy.deepcopy(_read(name))
    for path, value in overrides.items():
        set_path(event, path, value)
    return event


def set_path(document: Any, path: str, value: Any) -> None:
    """Set `value` at a dotted `path`: dict keys are created as needed (a null on the way becomes {});
    a numeric part indexes an existing list item."""
    parts = path.split(".")
    node = document
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_index(part, path)]
            continue
        if node.get(part) is None:  # e.g. "pathParameters": null in a proxy event
            node[part] = [] if parts[i + 1].isdigit() else {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[_index(last, path)] = value
    else:
        node[last] = value


def _index(part: str, path: str) -> int:
    try:
        return int(part)
    except ValueError:
        raise KeyError(f"{path!r}: {part!r} indexes a list, so it must be a number") from None


def telemetry_batch(thing_name: str, now_ms: int, **overrides: Any) -> dict[str, Any]:
    """`sqs_telemetry_batch` for `thing_name`, shifted in time so its last message arrives at `now_ms`.

    Every record keeps its offset from the others: `received_at`, the SQS timestamps and, for payloads
    that are JSON with a `ts`, the measurement time all move by the same amount, so readings are as
    fresh (not in the future, inside the backfill window) as when the sample was captured.
    """
    event = load_event("sqs_telemetry_batch")
    bodies = [json.loads(record["body"]) for record in event["Records"]]
    shift = now_ms - max(body["received_at"] for body in bodies)
    for record, body in zip(event["Records"], bodies, strict=True):
        body["thing_name"] = thing_name
        body["received_at"] += shift
        payload = base64.b64decode(body["payload"])
        try:
            message = json.loads(payload)
        except ValueError:
            message = None  # the not-JSON sample stays byte for byte what the device sent
        if isinstance(message, dict) and isinstance(message.get("ts"), int):
            message["ts"] += shift
            body["payload"] = base64.b64encode(json.dumps(message, separators=(",", ":")).encode()).decode()
        record["body"] = json.dumps(body, separators=(",", ":"))
        record["md5OfBody"] = hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324 - SQS's checksum
        for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
            record["attributes"][name] = str(int(record["attributes"][name]) + shift)
    for path, value in overrides.items():
        set_path(event, path, value)
    return event


def command_ack_batch(thing_name: str, correlation_id: str, received_at: int, **ack: Any) -> dict[str, Any]:
    """`sqs_command_ack_batch` for a device's answer to one command (`ack` overrides its fields, e.g.
    `status="failed"`), received at `received_at`, as the commands-ack rule would have projected it."""
    event = load_event("sqs_command_ack_batch")
    record = event["Records"][0]
    body = json.loads(record["body"])
    document = {**json.loads(base64.b64decode(body["payload"])), "correlationId": correlation_id, **ack}
    shift = received_at - body["received_at"]
    body.update(
        thing_name=thing_name,
        received_at=received_at,
        payload=base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode(),
    )
    record["body"] = json.dumps(body, separators=(",", ":"))
    record["md5OfBody"] = hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324 - SQS's checksum
    for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
        record["attributes"][name] = str(int(record["attributes"][name]) + shift)
    return event


def invocation_context(function_name: str) -> Any:
    from gridshare_local.lambda_runtime import LambdaContext

    return LambdaContext(function_name)


def proxy_event(name: str, token: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An API Gateway proxy event; the Authorization header (both header maps) set to `token` or removed,
    and `requestContext.authorizer` what API Gateway hands over after the TOKEN authorizer allowed that
    token (its principalId and context: gridshare.identity.authorizer), or removed without a token."""
    event = load_event(name, **overrides)
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Authorization", None)
    event["requestContext"].pop("authorizer", None)
    if token is not None:
        event["headers"]["Authorization"] = f"Bearer {token}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
        event["requestContext"]["authorizer"] = authorizer_context(token)
    return event


def authorizer_context(token: str) -> dict[str, Any]:
    """`requestContext.authorizer` as API Gateway builds it from the authorizer's answer for `token`."""
    from gridshare.identity import authorizer

    answer = authorizer.handler(
        load_event("apigw_authorizer_token", authorizationToken=f"Bearer {token}"),
        invocation_context("identity-authorizer"),
    )
    return {"principalId": answer["principalId"], **answer["context"], "integrationLatency": 38}
