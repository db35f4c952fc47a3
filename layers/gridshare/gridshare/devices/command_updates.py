"""Publishing command state changes as domain events (EventBridge: `gridshare.devices` / `CommandUpdated`,
docs/events.md), for the WebSocket topic `commands` (gridshare.notifications).

The command is stored first, then announced. A failed publish is logged and not retried: the command item is the
record (`GET /v1/devices/{id}/commands/{commandId}`); pushes are at most once anyway.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel.settings import get_settings

logger = logging.getLogger("gridshare.devices.command_updates")
SOURCE, DETAIL_TYPE = "gridshare.devices", "CommandUpdated"


class CommandUpdatePublisher(Protocol):
    def publish(self, command: dict[str, Any], device_id: str, owner_id: str) -> None: ...


def command_event(command: dict[str, Any], device_id: str, owner_id: str) -> dict[str, Any]:
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": {"command": command, "deviceId": device_id, "ownerId": owner_id},
    }


class EventBridgeCommandUpdates:
    def __init__(self) -> None:
        self._client: Any = None

    def publish(self, command: dict[str, Any], device_id: str, owner_id: str) -> None:
        entry = command_event(command, device_id, owner_id)
        entry["Detail"] = json.dumps(entry["Detail"], separators=(",", ":"), default=str)
        entry["EventBusName"] = get_settings().event_bus
        try:
            if self._client is None:
                from gridshare.kernel.aws import client

                self._client = client("events")
            result = self._client.put_events(Entries=[entry])
            if result.get("FailedEntryCount"):
                raise RuntimeError(str(result.get("Entries")))
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            logger.error("command update not published", extra={"commandId": command.get("id"), "error": str(exc)})
