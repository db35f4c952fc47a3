"""Settlement's domain events (EventBridge, source ``gridshare.settlement``, docs/events.md).

- ``SettlementCompleted`` ``{runId, intervals: [ISO starts], parties: [user ids]}``: published by Finalize,
  in chunks of at most ``PARTIES_PER_EVENT`` parties (each event carries ``part`` and ``parts``), for
  per-party notifications.
- ``SettlementFailed`` ``{runId, error, cause}``: published by MarkFailed, for admins.

A failed publish is logged and never fails the run: the run's record is the source of truth.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel.clock import to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.settings import get_settings

__all__ = ["SOURCE", "EventBridgeSettlementEvents", "SettlementEvents", "settlement_events"]

logger = logging.getLogger("gridshare.settlement.events")
SOURCE, COMPLETED, FAILED = "gridshare.settlement", "SettlementCompleted", "SettlementFailed"
PARTIES_PER_EVENT = 500
MAX_ENTRIES_PER_CALL = 10


class SettlementEvents(Protocol):
    def completed(self, run_id: str, intervals: list[int], parties: list[str]) -> None: ...

    def failed(self, run_id: str, error: str, cause: str) -> None: ...


def completed_events(run_id: str, intervals: list[int], parties: list[str]) -> list[dict[str, Any]]:
    chunks = [parties[i : i + PARTIES_PER_EVENT] for i in range(0, len(parties), PARTIES_PER_EVENT)] or [[]]
    names = [to_iso(i) for i in intervals]
    return [
        {
            "Source": SOURCE,
            "DetailType": COMPLETED,
            "Detail": {"runId": run_id, "intervals": names, "parties": chunk, "part": n + 1, "parts": len(chunks)},
        }
        for n, chunk in enumerate(chunks)
    ]


def failed_event(run_id: str, error: str, cause: str) -> dict[str, Any]:
    return {"Source": SOURCE, "DetailType": FAILED, "Detail": {"runId": run_id, "error": error, "cause": cause}}


class EventBridgeSettlementEvents:
    def __init__(self) -> None:
        self._client: Any = None

    def completed(self, run_id: str, intervals: list[int], parties: list[str]) -> None:
        self._publish(completed_events(run_id, intervals, parties))

    def failed(self, run_id: str, error: str, cause: str) -> None:
        self._publish([failed_event(run_id, error, cause)])

    def _publish(self, events: list[dict[str, Any]]) -> None:
        bus = get_settings().event_bus
        entries = [{**e, "Detail": json.dumps(e["Detail"], separators=(",", ":")), "EventBusName": bus} for e in events]
        for first in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            try:
                if self._client is None:
                    from gridshare.kernel.aws import client

                    self._client = client("events")
                result = self._client.put_events(Entries=entries[first : first + MAX_ENTRIES_PER_CALL])
                if result.get("FailedEntryCount"):
                    raise RuntimeError(str(result.get("Entries")))
            except (ClientError, BotoCoreError, RuntimeError) as exc:
                logger.error("settlement events not published", extra={"error": str(exc)})


settlement_events: ServiceFactory[SettlementEvents] = ServiceFactory(EventBridgeSettlementEvents)
"""The publisher runs announce with (tests: ``settlement_events.override(Recording())``)."""
