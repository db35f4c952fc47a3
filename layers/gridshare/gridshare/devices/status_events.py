"""Publishing device status changes as domain events (EventBridge; gridshare.devices.health.status_event).

The transition is stored first (device, history row, counts: one transaction), then published. A failed
publish is logged and not retried: the history row is the record, and a subscriber that must not miss a
change (alerts) can reconcile from `GET /v1/devices/{id}/status-history`. Events are at most once.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.devices import health as H
from gridshare.kernel.clock import to_iso
from gridshare.kernel.settings import get_settings

logger = logging.getLogger("gridshare.devices.status_events")


class StatusEventPublisher(Protocol):
    def publish(self, change: H.StatusChange) -> None: ...


def event_entry(change: H.StatusChange) -> dict[str, Any]:
    last_seen = to_iso(change.last_seen_at) if change.last_seen_at is not None else None
    return H.status_event(change, to_iso(change.at), last_seen)


class EventBridgePublisher:
    def __init__(self) -> None:
        self._client: Any = None

    def publish(self, change: H.StatusChange) -> None:
        entry = event_entry(change)
        entry["Detail"] = json.dumps(entry["Detail"], separators=(",", ":"))
        entry["EventBusName"] = get_settings().event_bus
        try:
            if self._client is None:
                from gridshare.kernel.aws import client

                self._client = client("events")
            result = self._client.put_events(Entries=[entry])
            if result.get("FailedEntryCount"):
                raise RuntimeError(str(result.get("Entries")))
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            logger.error(
                "device status event not published",
                extra={"deviceId": change.device_id, "status": change.status, "error": str(exc)},
            )
