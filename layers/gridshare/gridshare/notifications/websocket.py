"""The WebSocket API's routes: $connect, $disconnect and $default (client actions), docs/notifications.md.

$connect takes the access token as `?token=` and verifies it exactly as the REST route guard does
(gridshare.http.auth + revocation); a refused connect answers 401 and API Gateway closes the socket.
$default reads `{"action": ...}`: `subscribe` / `unsubscribe` (`topics`), `ping`, `acknowledgeAlert`
(`alertId`, optional `note`: the alerts service, when deployed with this one). Replies and errors are pushed to the
connection through the @connections API (so one action may answer several messages: an error per refused
topic, then `subscribed`).
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from gridshare.http.bearer import check_token_shape
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.roles import Caller
from gridshare.notifications import topics as T
from gridshare.notifications.connections import ConnectionStore, Pusher

logger = logging.getLogger("gridshare.notifications.websocket")
MAX_MESSAGE_BYTES = 32 * 1024
MAX_NOTE_CHARS = 500
ACTIONS = ("subscribe", "unsubscribe", "ping", "acknowledgeAlert")


def _ok() -> dict[str, Any]:
    return {"statusCode": 200}


def _ts() -> str:
    return to_iso(now_ms())


class DeviceAccess:
    """Whether a caller may see a device: the devices service's ownership rule (owner, admin, operator)."""

    def check(self, caller: Caller, device_id: str) -> None:
        from gridshare.devices.service import DeviceService  # the devices context's service, on use

        DeviceService.get_owned(caller, device_id)


def authenticate(token: str) -> Caller:
    """The REST guard's verification (signature, issuer, client, expiry on the kernel clock, revocation)."""
    check_token_shape(token)  # a missing or malformed token is refused without importing jwt
    from gridshare.http import revocations
    from gridshare.http.auth import verify_access_token

    caller = verify_access_token(token)
    revocations.assert_token_current(caller)
    return caller


def acknowledge_alert(caller: Caller, alert_id: str, note: str | None) -> dict[str, Any]:
    """The alerts context's acknowledge, imported on use: it is another context, deployed beside this one."""
    try:
        service = importlib.import_module("gridshare.alerts.service")
    except ModuleNotFoundError as exc:
        if exc.name not in ("gridshare.alerts", "gridshare.alerts.service"):
            raise  # the alerts context is there but broken: that is a bug to see, not "not available"
        raise errors.Unavailable("Acknowledging alerts is not available.") from None
    result: dict[str, Any] = service.acknowledge(caller.user_id, caller.groups or (caller.role,), alert_id, note)
    return result


@dataclass
class WebSocketRoutes:
    store: ConnectionStore = field(default_factory=ConnectionStore)
    pusher: Pusher | None = None
    devices: DeviceAccess = field(default_factory=DeviceAccess)

    def __post_init__(self) -> None:
        if self.pusher is None:
            self.pusher = Pusher(self.store)

    # ------------------------------------------------------------ entry
    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        context = event.get("requestContext") or {}
        route = str(context.get("routeKey") or context.get("eventType") or "")
        connection_id = str(context.get("connectionId") or "")
        if route == "$connect":
            return self.connect(connection_id, (event.get("queryStringParameters") or {}).get("token") or "")
        if route == "$disconnect":
            self.store.close(connection_id)
            return _ok()
        return self.message(connection_id, event.get("body"))

    def connect(self, connection_id: str, token: str) -> dict[str, Any]:
        try:
            caller = authenticate(token)
        except errors.AuthenticationFailed as exc:
            logger.info("websocket connect refused", extra={"reason": exc.detail})
            return {"statusCode": 401, "body": exc.detail}
        self.store.open(connection_id, caller.user_id, caller.role, caller.groups)
        return _ok()

    # ------------------------------------------------------------ actions
    def _reply(self, connection_id: str, message: dict[str, Any]) -> None:
        assert self.pusher is not None
        self.pusher.send(connection_id, message)

    def message(self, connection_id: str, body: Any) -> dict[str, Any]:
        connection = self.store.get(connection_id)
        if connection is None:
            return {"statusCode": 410}  # $disconnect already ran (or the item expired)
        caller = Caller(
            user_id=connection.user_id,
            sub=connection.user_id,
            role=connection.role,
            groups=tuple(g for g in (connection.groups or "").split(",") if g),
            issued_at=int(connection.connected_at) // 1000,
            token_id="",
        )
        try:
            request = self._parse(body)
        except ValueError as exc:
            self._reply(connection_id, T.error_message(str(exc), _ts()))
            return _ok()
        action = request["action"]
        if action == "ping":
            self._reply(connection_id, {"type": "pong", "data": {}, "ts": _ts()})
        elif action == "subscribe":
            self._subscribe(connection_id, caller, request.get("topics"))
        elif action == "unsubscribe":
            self._unsubscribe(connection_id, caller, request.get("topics"))
        else:
            self._acknowledge(connection_id, caller, request)
        return _ok()

    @staticmethod
    def _parse(body: Any) -> dict[str, Any]:
        if not isinstance(body, str) or len(body.encode()) > MAX_MESSAGE_BYTES:
            raise ValueError(f"a message is a JSON object of at most {MAX_MESSAGE_BYTES} bytes")
        try:
            request = json.loads(body)
        except ValueError:
            raise ValueError("the message is not JSON") from None
        if not isinstance(request, dict) or request.get("action") not in ACTIONS:
            raise ValueError(f"unknown action: one of {', '.join(ACTIONS)}")
        return request

    @staticmethod
    def _topic_list(value: Any) -> list[Any]:
        if not isinstance(value, list) or not value or len(value) > T.MAX_TOPICS_PER_MESSAGE:
            raise ValueError(f"topics: a list of 1-{T.MAX_TOPICS_PER_MESSAGE} topics")
        return value

    def _subscribe(self, connection_id: str, caller: Caller, value: Any) -> None:
        try:
            names = self._topic_list(value)
        except ValueError as exc:
            self._reply(connection_id, T.error_message(str(exc), _ts()))
            return
        current = len(self.store.subscriptions(connection_id))
        accepted: list[str] = []
        for name in names:
            try:
                topic = T.parse_topic(name)
                if topic.device_id is not None:
                    try:
                        self.devices.check(caller, topic.device_id)
                    except errors.NotFound:
                        raise T.TopicError(topic.name, "no such device, or not yours") from None
                if current >= T.MAX_SUBSCRIPTIONS:
                    raise T.TopicError(topic.name, f"at most {T.MAX_SUBSCRIPTIONS} subscriptions per connection")
            except T.TopicError as exc:
                self._reply(connection_id, T.error_message(exc.detail, _ts(), topic=exc.topic))
                continue
            self.store.subscribe(connection_id, caller.user_id, topic.subject(caller.user_id), topic.name)
            accepted.append(topic.name)
            current += 1
        self._reply(connection_id, {"type": "subscribed", "data": {"topics": accepted}, "ts": _ts()})

    def _unsubscribe(self, connection_id: str, caller: Caller, value: Any) -> None:
        try:
            names = self._topic_list(value)
        except ValueError as exc:
            self._reply(connection_id, T.error_message(str(exc), _ts()))
            return
        removed: list[str] = []
        for name in names:
            try:
                topic = T.parse_topic(name)
            except T.TopicError as exc:
                self._reply(connection_id, T.error_message(exc.detail, _ts(), topic=exc.topic))
                continue
            self.store.unsubscribe(connection_id, topic.subject(caller.user_id))
            removed.append(topic.name)
        self._reply(connection_id, {"type": "unsubscribed", "data": {"topics": removed}, "ts": _ts()})

    def _acknowledge(self, connection_id: str, caller: Caller, request: dict[str, Any]) -> None:
        alert_id, note = request.get("alertId"), request.get("note")
        if not isinstance(alert_id, str) or not 1 <= len(alert_id) <= 64:
            self._reply(connection_id, T.error_message("alertId: the id of one of your alerts", _ts(), field="alertId"))
            return
        if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS):
            self._reply(connection_id, T.error_message(f"note: text of at most {MAX_NOTE_CHARS}", _ts(), field="note"))
            return
        try:
            alert = acknowledge_alert(caller, alert_id, note)
        except errors.GridshareError as exc:
            self._reply(connection_id, T.error_message(exc.detail, _ts(), alertId=alert_id))
            return
        self._reply(connection_id, {"type": "alert.acknowledged", "data": {"alert": alert}, "ts": _ts()})
