"""WebSocket connections and subscriptions (DynamoDB, with TTL) and pushes through the @connections API.

A connection lives at most 2 hours on API Gateway, so its items expire after CONNECTION_TTL_S even if a
$disconnect never arrives. A push to a gone connection (GoneException, 410) deletes it and its subscriptions.
Cost of a push to a subject: one Query on the `by_subject` index (keys only), then one PostToConnection per
subscriber; a subject nobody listens to costs that one Query and nothing else.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist

from gridshare.kernel.clock import now_ms
from gridshare.kernel.settings import get_settings
from gridshare.notifications.models import ConnectionModel, SubscriptionModel

logger = logging.getLogger("gridshare.notifications.connections")
CONNECTION_TTL_S = 3 * 3600  # API Gateway closes a connection after 2 h
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _expiry(at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms // 1000 + CONNECTION_TTL_S, tz=UTC)


class ConnectionStore:
    def open(self, connection_id: str, user_id: str, role: str, groups: tuple[str, ...]) -> None:
        at = now_ms()
        ConnectionModel(
            connection_id=connection_id,
            user_id=user_id,
            role=role,
            groups=",".join(groups),
            connected_at=at,
            expires_at=_expiry(at),
        ).save()

    def get(self, connection_id: str) -> ConnectionModel | None:
        try:
            return ConnectionModel.get(connection_id)
        except DoesNotExist:
            return None

    def close(self, connection_id: str) -> None:
        for item in SubscriptionModel.query(connection_id):
            item.delete()
        ConnectionModel(connection_id=connection_id).delete()

    def subscriptions(self, connection_id: str) -> list[SubscriptionModel]:
        return list(SubscriptionModel.query(connection_id))

    def subscribe(self, connection_id: str, user_id: str, subject: str, topic: str) -> None:
        SubscriptionModel(
            connection_id=connection_id, subject=subject, topic=topic, user_id=user_id, expires_at=_expiry(now_ms())
        ).save()

    def unsubscribe(self, connection_id: str, subject: str) -> None:
        SubscriptionModel(connection_id=connection_id, subject=subject).delete()

    def subscribers(self, subject: str) -> list[str]:
        return [item.connection_id for item in SubscriptionModel.by_subject.query(subject)]


def management_client() -> Any:
    """The @connections API client of the endpoint in settings (one per endpoint per container)."""
    endpoint = get_settings().ws_management_endpoint
    if not endpoint:
        raise RuntimeError("GS_WS_MANAGEMENT_ENDPOINT is not set: nothing can be pushed")
    with _clients_lock:
        if endpoint not in _clients:
            from gridshare.kernel.aws import new_client

            _clients[endpoint] = new_client(
                "apigatewaymanagementapi", endpoint_url=endpoint, region_name=get_settings().region
            )
        return _clients[endpoint]


class Pusher:
    """Sends JSON messages to connections; a gone one is cleaned up."""

    def __init__(self, store: ConnectionStore | None = None, api: Any = None) -> None:
        self.store = store or ConnectionStore()
        self._api = api

    @property
    def api(self) -> Any:
        return self._api if self._api is not None else management_client()

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        """Post one message; False (and the connection forgotten) when it is gone."""
        data = json.dumps(message, separators=(",", ":"), default=str).encode()
        try:
            self.api.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "GoneException" or status == 410:
                self.store.close(connection_id)
                return False
            raise
        return True

    def publish(self, subject: str, message: dict[str, Any]) -> int:
        """Send to every subscriber of `subject`; returns how many received it. A failure to reach one
        connection is logged and does not stop the others."""
        delivered = 0
        for connection_id in self.store.subscribers(subject):
            try:
                delivered += self.send(connection_id, message)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("push failed", extra={"connectionId": connection_id, "error": str(exc)})
        return delivered
