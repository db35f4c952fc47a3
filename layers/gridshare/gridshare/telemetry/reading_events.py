"""Publishing accepted readings as domain events: `gridshare.telemetry` / `ReadingsAccepted` on the default
EventBridge bus (docs/events.md, item 1), one PutEvents call per ingest batch.

detail `{"readings": [{"deviceId", "ownerId", "deviceType", "siteId", "ts", "metrics"}]}`, the metrics
calibrated, as stored; `siteId` is null (ingest does not know placements: a subscriber that needs the site
asks the sites service). Duplicates (a redelivered message) are published again, so a batch that failed
after storing but before publishing is still published on its redelivery: events are at least once and
subscribers are idempotent (the alert evaluator ignores readings at or before its last). A failed publish
is logged and never fails the ingest: readings are the record.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel.clock import to_iso
from gridshare.kernel.settings import get_settings

logger = logging.getLogger("gridshare.telemetry.reading_events")

SOURCE = "gridshare.telemetry"
DETAIL_TYPE = "ReadingsAccepted"
READINGS_PER_EVENT = 100  # ~25 KB of detail at most: far below EventBridge's 256 KB per entry
ENTRIES_PER_CALL = 10  # PutEvents' limit


def accepted_reading(
    device_id: str, owner_id: str, device_type: str, ts: int, metrics: dict[str, Any]
) -> dict[str, Any]:
    return {
        "deviceId": device_id,
        "ownerId": owner_id,
        "deviceType": device_type,
        "siteId": None,
        "ts": to_iso(ts),
        "metrics": dict(metrics),
    }


def entries(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The PutEvents entries carrying `readings`, READINGS_PER_EVENT per entry."""
    bus = get_settings().event_bus
    return [
        {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps({"readings": readings[i : i + READINGS_PER_EVENT]}, separators=(",", ":")),
            "EventBusName": bus,
        }
        for i in range(0, len(readings), READINGS_PER_EVENT)
    ]


class ReadingsPublisher:
    def __init__(self) -> None:
        self._client: Any = None

    def publish(self, readings: list[dict[str, Any]]) -> None:
        all_entries = entries(readings)
        for i in range(0, len(all_entries), ENTRIES_PER_CALL):
            try:
                if self._client is None:
                    from gridshare.kernel.aws import client

                    self._client = client("events")
                result = self._client.put_events(Entries=all_entries[i : i + ENTRIES_PER_CALL])
                if result.get("FailedEntryCount"):
                    raise RuntimeError(str(result.get("Entries")))
            except (ClientError, BotoCoreError, RuntimeError) as exc:
                logger.error("ReadingsAccepted not published", extra={"readings": len(readings), "error": str(exc)})
