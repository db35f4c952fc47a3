"""Publishing alert lifecycle events on the EventBridge default bus (docs/events.md, item 3).

`gridshare.alerts` / `AlertOpened` | `AlertUpdated` | `AlertReminder` | `AlertEscalated`, detail
`{"alert": <the alert's public JSON>, "ownerId", "channels", "occurrence", "audience"}`. The notifications
context delivers them, deduplicated per (alert, channel, occurrence, recipient), so an occurrence names one
change of one alert and a redelivered event is delivered once.

The alert is stored first, then published. A failed publish is logged and not retried (the alert is the
record, readable through the API): events are at most once, like device status changes.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel.settings import get_settings

logger = logging.getLogger("gridshare.alerts.alert_events")

SOURCE = "gridshare.alerts"
OPENED = "AlertOpened"
UPDATED = "AlertUpdated"
REMINDER = "AlertReminder"
ESCALATED = "AlertEscalated"


def alert_event(
    detail_type: str, alert: dict[str, Any], channels: list[str], occurrence: str, audience: str = "owner"
) -> dict[str, Any]:
    """One PutEvents entry (Detail still a dict)."""
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": {
            "alert": alert,
            "ownerId": alert["ownerId"],
            "channels": list(channels),
            "occurrence": occurrence,
            "audience": audience,
        },
    }


class AlertPublisher(Protocol):
    def publish(self, entries: list[dict[str, Any]]) -> None: ...


class EventBridgeAlertPublisher:
    def __init__(self) -> None:
        self._client: Any = None

    def publish(self, entries: list[dict[str, Any]]) -> None:
        for start in range(0, len(entries), 10):  # PutEvents takes at most 10 entries
            chunk = [
                {
                    **e,
                    "Detail": json.dumps(e["Detail"], separators=(",", ":")),
                    "EventBusName": get_settings().event_bus,
                }
                for e in entries[start : start + 10]
            ]
            try:
                if self._client is None:
                    from gridshare.kernel.aws import client

                    self._client = client("events")
                result = self._client.put_events(Entries=chunk)
                if result.get("FailedEntryCount"):
                    raise RuntimeError(str(result.get("Entries")))
            except (ClientError, BotoCoreError, RuntimeError) as exc:
                logger.error(
                    "alert events not published",
                    extra={"types": [e["DetailType"] for e in chunk], "error": str(exc)},
                )
