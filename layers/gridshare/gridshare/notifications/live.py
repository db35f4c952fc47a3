"""Live pushes to WebSocket subscribers: readings, status changes, command updates, trades and order changes.

Cost bound (docs/decisions/0018-notifications.md): per `ReadingsAccepted` batch, one keys-only Query per
distinct device on the subscriptions' `by_subject` index; a device nobody watches costs that Query and nothing
more, and a watched device one PostToConnection per (reading, subscriber). Status, command and order events
are one Query each; a trade one per party. Pushes are at most once: a connection that fails is logged and
skipped; a gone one is cleaned up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gridshare.kernel.clock import now_ms, to_iso
from gridshare.notifications import topics as T
from gridshare.notifications.connections import Pusher

logger = logging.getLogger("gridshare.notifications.live")
MAX_READINGS_PER_DEVICE = 100  # per batch: a backfill burst is not replayed reading by reading to a dashboard


def reading_data(reading: dict[str, Any]) -> dict[str, Any]:
    return {
        "deviceId": reading.get("deviceId"),
        "siteId": reading.get("siteId"),
        "deviceType": reading.get("deviceType"),
        "ts": reading.get("ts"),
        "metrics": reading.get("metrics") or {},
    }


@dataclass
class LivePush:
    pusher: Pusher = field(default_factory=Pusher)

    def readings(self, detail: dict[str, Any]) -> int:
        by_device: dict[str, list[dict[str, Any]]] = {}
        for reading in detail.get("readings") or ():
            if isinstance(reading, dict) and reading.get("deviceId"):
                by_device.setdefault(str(reading["deviceId"]), []).append(reading)
        sent = 0
        for device_id, readings in by_device.items():
            subscribers = self.pusher.store.subscribers(T.readings_subject(device_id))
            if not subscribers:
                continue
            ts = to_iso(now_ms())
            for reading in readings[-MAX_READINGS_PER_DEVICE:]:
                message = T.server_message("reading", reading_data(reading), ts)
                for connection_id in subscribers:
                    sent += self._send(connection_id, message)
        return sent

    def status(self, detail: dict[str, Any]) -> int:
        device_id = str(detail.get("deviceId") or "")
        if not device_id:
            return 0
        data = {k: detail.get(k) for k in ("deviceId", "type", "previous", "status", "at", "lastSeenAt")}
        return self.pusher.publish(
            T.status_subject(device_id), T.server_message("device.status", data, to_iso(now_ms()))
        )

    def command(self, detail: dict[str, Any]) -> int:
        owner = str(detail.get("ownerId") or "")
        command = detail.get("command")
        if not owner or not isinstance(command, dict):
            return 0
        data = {"deviceId": detail.get("deviceId"), "command": command}
        return self.pusher.publish(
            T.user_subject("commands", owner), T.server_message("command.updated", data, to_iso(now_ms()))
        )

    def trade(self, detail: dict[str, Any]) -> int:
        """`trade.executed` to the buyer's and the seller's `market` subscribers (once to a user on both sides)."""
        trade = detail.get("trade")
        if not isinstance(trade, dict):
            return 0
        parties = dict.fromkeys(str(detail.get(k) or "") for k in ("buyerId", "sellerId"))
        message = T.server_message("trade.executed", {"trade": trade}, to_iso(now_ms()))
        return sum(self.pusher.publish(T.user_subject("market", user), message) for user in parties if user)

    def order(self, detail: dict[str, Any]) -> int:
        """`order.updated` to the order owner's `market` subscribers."""
        owner = str(detail.get("ownerId") or "")
        order = detail.get("order")
        if not owner or not isinstance(order, dict):
            return 0
        message = T.server_message("order.updated", {"order": order}, to_iso(now_ms()))
        return self.pusher.publish(T.user_subject("market", owner), message)

    def _send(self, connection_id: str, message: dict[str, Any]) -> int:
        try:
            return int(self.pusher.send(connection_id, message))
        except Exception as exc:  # noqa: BLE001 - one connection never stops the others
            logger.warning("push failed", extra={"connectionId": connection_id, "error": str(exc)})
            return 0
