"""WebSocket topics and messages (pure; docs/notifications.md, "WebSocket protocol").

A client subscribes to topics:
- `alerts`: alert events whose recipient is the user (`alert.opened`, `alert.updated`);
- `commands`: state changes of commands sent to the user's devices (`command.updated`);
- `market`: the user's trades, as buyer or seller (`trade.executed`), and changes of their orders
  (`order.updated`);
- `settlement`: settlement runs the user was a party of (`settlement.completed`), and, for admins, failed runs
  (`settlement.failed`);
- `devices/{id}/readings`: accepted readings of one device (`reading`);
- `devices/{id}/status`: its online/offline transitions (`device.status`).

The first four are the user's own: they are stored under a *subject* that names the user (`alerts@<user>`), so
the subscribers of one user's alerts are one index query and nobody else's subscription ever matches. A device
topic is its own subject: anyone allowed to see the device (checked at subscribe time) gets the same messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

USER_TOPICS: frozenset[str] = frozenset({"alerts", "commands", "market", "settlement"})
DEVICE_TOPIC = re.compile(r"^devices/([A-Za-z0-9_-]{1,64})/(readings|status)$")
MAX_TOPICS_PER_MESSAGE = 20
MAX_SUBSCRIPTIONS = 100  # per connection
MESSAGE_TYPES: tuple[str, ...] = (
    "alert.opened",
    "alert.updated",
    "reading",
    "device.status",
    "command.updated",
    "trade.executed",
    "order.updated",
    "settlement.completed",
    "settlement.failed",
)


class TopicError(ValueError):
    def __init__(self, topic: str, detail: str) -> None:
        super().__init__(detail)
        self.topic = topic
        self.detail = detail


@dataclass(frozen=True)
class Topic:
    name: str  # as the client wrote it
    device_id: str | None  # the device of a device topic

    def subject(self, user_id: str) -> str:
        """The key subscriptions are stored (and looked up) under."""
        return f"{self.name}@{user_id}" if self.device_id is None else self.name


def parse_topic(value: object) -> Topic:
    if not isinstance(value, str) or not value:
        raise TopicError(str(value), "a topic is a non-empty string")
    if value in USER_TOPICS:
        return Topic(value, None)
    match = DEVICE_TOPIC.match(value)
    if match is None:
        raise TopicError(
            value, "unknown topic: alerts, commands, market, settlement, devices/{id}/readings or devices/{id}/status"
        )
    return Topic(value, match.group(1))


def user_subject(topic: str, user_id: str) -> str:
    """The subject of a user topic (`alerts`, `commands`, `market`, `settlement`) for `user_id`."""
    if topic not in USER_TOPICS:
        raise ValueError(topic)
    return f"{topic}@{user_id}"


def readings_subject(device_id: str) -> str:
    return f"devices/{device_id}/readings"


def status_subject(device_id: str) -> str:
    return f"devices/{device_id}/status"


def server_message(kind: str, data: dict[str, object], ts: str) -> dict[str, object]:
    """A message the server pushes: `{"type", "data", "ts"}`."""
    return {"type": kind, "data": data, "ts": ts}


def error_message(detail: str, ts: str, topic: str | None = None, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {"detail": detail, **extra}
    if topic is not None:
        data["topic"] = topic
    return {"type": "error", "data": data, "ts": ts}


def alert_message_type(detail_type: str) -> str:
    """`AlertOpened` -> `alert.opened`; every other alert event -> `alert.updated` (docs/events.md)."""
    return "alert.opened" if detail_type == "AlertOpened" else "alert.updated"
