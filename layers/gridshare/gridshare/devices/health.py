"""Device health, pure: the status a device shows, when it goes offline, and when a message must be written.

A device is `never_seen` until its first accepted reading or heartbeat, then `online`; the offline schedule
makes it `offline` once it has been silent longer than its `offlineAfterS`, and its next message makes it
`online` again. Invariants (tests/unit/devices/test_health.py):

- `device_status` is the one place a stored device becomes a status (decommissioning adds a branch here);
- an online device's deadline is always `offline_deadline(last_seen_at, offline_after_s)`; the schedule
  moves only devices whose deadline has passed, and never one that sent a message within its limit;
- a message from an online device is written only when it moves `last_seen_at` forward by more than the
  granularity (min(offlineAfterS / 3, 60 s)), so `last_seen_at` lags the truth by less than that and a device
  that keeps reporting never reaches its deadline; a message from a device not online is always written (the
  transition to online).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["never_seen", "online", "offline"]
STATUSES: tuple[Status, ...] = ("never_seen", "online", "offline")
ONLINE: Literal["online"] = "online"
OFFLINE: Literal["offline"] = "offline"
NEVER_SEEN: Literal["never_seen"] = "never_seen"

MIN_OFFLINE_AFTER_S = 30
MAX_OFFLINE_AFTER_S = 7 * 86_400
DEFAULT_REPORT_INTERVAL_S = 60  # a meter's reporting interval until it is told otherwise
DEFAULT_OFFLINE_AFTER_S = 3 * DEFAULT_REPORT_INTERVAL_S
MAX_GRANULARITY_MS = 60_000

EVENT_SOURCE = "gridshare.devices"
EVENT_DETAIL_TYPE = "DeviceStatusChanged"


def device_status(health: str | None) -> Status:
    """What a stored device shows as `status` (`health` is the stored attribute; None = never seen)."""
    if health == ONLINE:
        return ONLINE
    if health == OFFLINE:
        return OFFLINE
    return NEVER_SEEN


def offline_after_s(setting: int | None) -> int:
    """The device's silence limit: its own setting, or three default report intervals; never under 30 s."""
    chosen = DEFAULT_OFFLINE_AFTER_S if setting is None else int(setting)
    return max(MIN_OFFLINE_AFTER_S, chosen)


def write_granularity_ms(limit_s: int) -> int:
    """How far the stored `last_seen_at` may lag the last message: a third of the silence limit, at most a
    minute."""
    return min(limit_s * 1000 // 3, MAX_GRANULARITY_MS)


def offline_deadline(last_seen_at: int, limit_s: int) -> int:
    """The epoch ms after which a device whose stored `last_seen_at` is this has been silent longer than
    `limit_s`. The stored value may lag the last message by up to the granularity, so the deadline adds it:
    a device is never marked offline early, and at most one granularity (plus a schedule period) late."""
    return last_seen_at + limit_s * 1000 + write_granularity_ms(limit_s)


Action = Literal["skip", "touch", "transition"]


def on_message(health: str | None, last_written: int | None, at: int, limit_s: int) -> Action:
    """What a message seen at `at` needs, given what is stored (or remembered): nothing, a `touch` (move
    `last_seen_at` and the deadline forward), or a `transition` to online (recorded and published)."""
    if health != ONLINE:
        return "transition"
    if last_written is not None and at - last_written <= write_granularity_ms(limit_s):
        return "skip"
    return "touch"


@dataclass(frozen=True)
class StatusChange:
    """One transition, as recorded in the status history and published as a domain event."""

    device_id: str
    owner_id: str
    device_type: str
    previous: Status
    status: Status
    at: int
    last_seen_at: int | None


def status_event(change: StatusChange, at_iso: str, last_seen_iso: str | None) -> dict[str, Any]:
    """The EventBridge entry of a transition (events/device_status_changed.json is a sample)."""
    return {
        "Source": EVENT_SOURCE,
        "DetailType": EVENT_DETAIL_TYPE,
        "Detail": {
            "deviceId": change.device_id,
            "ownerId": change.owner_id,
            "type": change.device_type,
            "previous": change.previous,
            "status": change.status,
            "at": at_iso,
            "lastSeenAt": last_seen_iso,
        },
    }


def count_key(device_type: str, status: str) -> str:
    return f"{device_type}#{status}"


def stats_from_counts(counts: dict[str, int], types: tuple[str, ...]) -> dict[str, Any]:
    """Counts by type and status (every pair present, zeros included) and the totals."""
    by_type: dict[str, dict[str, int]] = {t: dict.fromkeys(STATUSES, 0) for t in types}
    for key, value in counts.items():
        device_type, _, status = key.partition("#")
        if device_type in by_type and status in by_type[device_type]:
            by_type[device_type][status] = max(0, int(value))
    by_status = {s: sum(row[s] for row in by_type.values()) for s in STATUSES}
    return {"total": sum(by_status.values()), "byStatus": by_status, "byType": by_type}
