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


def accepted_template(device_id: str, owner_id: str, device_type: str) -> dict[str, Any]:
    """The device's part of an accepted reading, built once per device (ingest keeps it per container).
    It already has the `ts` and `metrics` keys (None), so `accepted_from` copies it and sets them: copying a
    dict of the same keys and replacing two values costs half of building it again."""
    return {
        "deviceId": device_id,
        "ownerId": owner_id,
        "deviceType": device_type,
        "siteId": None,
        "ts": None,
        "metrics": None,
    }


def accepted_from(template: dict[str, Any], reading: Any) -> dict[str, Any]:
    """`accepted_reading` from the device's template and a Reading; its metrics dict is shared with the
    reading (read-only, as the reading's)."""
    accepted = template.copy()
    accepted["ts"] = iso_ms(reading.ts)
    accepted["metrics"] = reading.metrics
    return accepted


_MINUTES: dict[int, str] = {}  # epoch minute -> "YYYY-MM-DDTHH:MM:" (readings of a batch share a few)
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))
_ISO_FAST_END = 4_102_444_800_000  # 2100-01-01: below it, the float in `to_iso` is exact to the millisecond


def iso_ms(ms: int) -> str:
    """`to_iso(ms)`, from a per-minute prefix: ~0.3 µs instead of ~1.5 µs per reading."""
    if not 0 <= ms < _ISO_FAST_END:
        return to_iso(ms)
    minute, rest = divmod(ms, 60_000)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) >= 4096:
            _MINUTES.clear()
        prefix = _MINUTES[minute] = to_iso(minute * 60_000)[:17]
    return prefix + _SECONDS[rest // 1000] + _MILLIS[rest % 1000]


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
