"""Device health use cases: note a device was seen, mark silent devices offline, read the status history and
the fleet's counts, change a device's settings (PATCH).

`seen` is on the telemetry hot path: it remembers, per container, what it last wrote for each device, so an
online device's messages within the write granularity cost no DynamoDB request at all (docs/devices.md).
The memo is only a shortcut: every write is conditional on the stored health, and a refused write reads
the device again. An entry is trusted for at most MEMO_TTL_MS, so a silence limit changed by PATCH in
another container reaches this one within that time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from gridshare.devices import health as H
from gridshare.devices.health_store import HealthState, HealthStore
from gridshare.devices.models import DeviceModel
from gridshare.devices.status_events import EventBridgePublisher, StatusEventPublisher
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.roles import Caller

logger = logging.getLogger("gridshare.devices.health")
_SWEEP_PAGE, _SWEEP_ROUNDS = 100, 20  # at most 2,000 devices per run; the next run takes the rest
_ATTEMPTS = 3
MEMO_TTL_MS = 5 * 60_000
DEVICE_TYPES = ("meter", "inverter", "battery", "gas_sensor")


@dataclass(frozen=True)
class _Memo:
    state: HealthState  # as last read or written by this container
    last_written: int | None
    read_at: int


def status_change_view(item: Any) -> dict[str, Any]:
    return {
        "status": item.status,
        "previous": item.previous,
        "at": to_iso(int(item.at)),
        "lastSeenAt": to_iso(int(item.last_seen_at)) if item.last_seen_at is not None else None,
    }


@dataclass
class HealthService:
    store: HealthStore = field(default_factory=HealthStore)
    events: StatusEventPublisher = field(default_factory=EventBridgePublisher)
    _memo: dict[str, _Memo] = field(default_factory=dict)

    # ------------------------------------------------------------ from devices (readings, heartbeats)
    def seen(self, device_id: str, at: int) -> str:
        """Note a message from the device at `at`; returns what it cost: `skip`, `touch`, `transition`,
        `stale` (too old to bring the device online) or `unknown` (no such device)."""
        memo = self._memo.get(device_id)
        if memo is not None and memo.read_at + MEMO_TTL_MS >= at:
            action = H.on_message(memo.state.health, memo.last_written, at, memo.state.limit_s)
            if action == "skip":
                return "skip"
            if action == "touch" and self.store.touch(memo.state, at):
                self._memo[device_id] = _Memo(memo.state, at, memo.read_at)
                return "touch"
        for _ in range(_ATTEMPTS):
            state = self.store.get(device_id)
            if state is None:
                return "unknown"
            action = H.on_message(state.health, state.last_seen_at, at, state.limit_s)
            if action == "skip":
                self._remember(state, state.last_seen_at, at)
                return "skip"
            if action == "touch":
                if self.store.touch(state, at):
                    self._remember(state, at, at)
                    return "touch"
                continue
            if H.offline_deadline(at, state.limit_s) < now_ms():
                return "stale"  # a replayed or long-delayed message: the device has been silent since
            change = self.store.transition(state, H.ONLINE, at, last_seen_at=at)
            if change is not None:
                self._memo[device_id] = _Memo(replace(state, health=H.ONLINE), at, at)
                self.events.publish(change)
                return "transition"
        self._memo.pop(device_id, None)
        raise errors.Unavailable("The device's health kept changing; the message will be retried.")

    def _remember(self, state: HealthState, last_written: int | None, at: int) -> None:
        self._memo[state.device_id] = _Memo(state, last_written, at)

    # ------------------------------------------------------------ the offline schedule
    def mark_silent_offline(self, now: int | None = None) -> int:
        """Every online device past its deadline becomes offline; returns how many did (bounded per run)."""
        at = now_ms() if now is None else now
        moved = 0
        for _ in range(_SWEEP_ROUNDS):
            overdue = self.store.overdue(at, limit=_SWEEP_PAGE)
            for state in overdue:
                change = self.store.transition(state, H.OFFLINE, at, last_seen_at=state.last_seen_at)
                if change is None:
                    continue  # a message moved its deadline (or another run took it) meanwhile
                self._memo.pop(state.device_id, None)
                self.events.publish(change)
                moved += 1
            if len(overdue) < _SWEEP_PAGE:
                break
        return moved

    # ------------------------------------------------------------ routes
    def history(self, device: DeviceModel, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor)
        if start is not None and start.get("device_id", {}).get("S") != device.id:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        items, last = self.store.history(device.id, limit, start)
        return [status_change_view(item) for item in items], encode_cursor(last)

    def stats(self) -> dict[str, Any]:
        figures = H.stats_from_counts(self.store.counts(), DEVICE_TYPES)

        def camel(row: dict[str, int]) -> dict[str, int]:
            return {"neverSeen" if k == H.NEVER_SEEN else k: v for k, v in row.items()}

        return {
            "total": figures["total"],
            "byStatus": camel(figures["byStatus"]),
            "byType": {t: camel(row) for t, row in figures["byType"].items()},
        }

    @staticmethod
    def check_changeable(caller: Caller, device_id: str) -> DeviceModel:
        """The device if the caller may change it: its owner or an admin (anyone else: 404)."""
        try:
            device = DeviceModel.get(device_id, consistent_read=True)
        except DeviceModel.DoesNotExist:
            raise errors.NotFound("No such device.") from None
        if device.owner_id != caller.user_id and caller.role != "admin":
            raise errors.NotFound("No such device.")
        return device

    def update(self, caller: Caller, device_id: str, changes: dict[str, Any]) -> DeviceModel:
        """Rename, set the silence limit and metadata: the owner or an admin (anyone else: 404)."""
        device = self.check_changeable(caller, device_id)
        actions: list[Any] = []
        if changes.get("name") is not None:
            actions.append(DeviceModel.name.set(changes["name"]))
        if "metadata" in changes:
            labels = changes["metadata"]
            actions.append(DeviceModel.metadata.set(labels) if labels else DeviceModel.metadata.remove())
        if actions:
            device.update(actions=actions)
        if changes.get("offline_after_s") is not None:
            limit_s = int(changes["offline_after_s"])
            from gridshare.devices.health_store import state_of

            self.store.set_offline_after(state_of(device), limit_s)
            self._memo.pop(device.id, None)
        return DeviceModel.get(device.id, consistent_read=True)


health_service = ServiceFactory(HealthService)
