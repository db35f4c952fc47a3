"""Device health in DynamoDB: the device item's health attributes, the status history and the counts.

Write units (docs/devices.md, "Health"): a `touch` is one conditional UpdateItem of the device item (1 WCU,
items under 1 KB), made at most once per granularity per device; a transition is one TransactWriteItems of
the device update, the history row and two count updates (4 items x 2 = 8 WCU), made only when the status
changes. Every write is conditioned on the health it was computed from, so a message and the offline
schedule racing on one device cannot both win: the loser's write is refused and it reads again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from gridshare.devices import health as H
from gridshare.devices.models import DeviceModel, StatusChangeModel, StatusCountModel
from gridshare.kernel.ids import new_id
from gridshare.kernel.settings import get_settings
from gridshare.kernel.tables import failed_condition

HISTORY_RETENTION_S = 400 * 86_400  # a year of transitions, and a little more


@dataclass(frozen=True)
class HealthState:
    """What the health code needs of a device item."""

    device_id: str
    owner_id: str
    device_type: str
    health: str | None
    last_seen_at: int | None
    offline_after_s: int | None
    offline_at: int | None

    @property
    def limit_s(self) -> int:
        return H.offline_after_s(self.offline_after_s)


def state_of(item: DeviceModel) -> HealthState:
    return HealthState(
        device_id=item.id,
        owner_id=item.owner_id,
        device_type=item.type,
        health=item.health,
        last_seen_at=int(item.last_seen_at) if item.last_seen_at is not None else None,
        offline_after_s=int(item.offline_after_s) if item.offline_after_s is not None else None,
        offline_at=int(item.offline_at) if item.offline_at is not None else None,
    )


def _connection() -> Connection:
    return Connection(region=get_settings().region)


def _health_is(expected: str | None) -> Any:
    return DeviceModel.health.does_not_exist() if expected is None else DeviceModel.health == expected


def _limit_is(limit_s: int | None) -> Any:
    return DeviceModel.offline_after_s.does_not_exist() if limit_s is None else DeviceModel.offline_after_s == limit_s


class HealthStore:
    def get(self, device_id: str) -> HealthState | None:
        try:
            return state_of(DeviceModel.get(device_id, consistent_read=True))
        except DoesNotExist:
            return None

    def touch(self, state: HealthState, at: int) -> bool:
        """Move an online device's `last_seen_at` (and deadline) forward to `at`; False if it is no longer
        online, was already seen later, or its silence limit changed since `state` was read (a PATCH in
        another container): then the caller reads it again."""
        try:
            DeviceModel(state.device_id).update(
                actions=[
                    DeviceModel.last_seen_at.set(at),
                    DeviceModel.offline_at.set(H.offline_deadline(at, state.limit_s)),
                ],
                condition=(DeviceModel.health == H.ONLINE)
                & (DeviceModel.last_seen_at < at)
                & _limit_is(state.offline_after_s),
            )
        except UpdateError as exc:
            if failed_condition(exc):
                return False
            raise
        return True

    def transition(self, state: HealthState, to: H.Status, at: int, last_seen_at: int | None) -> H.StatusChange | None:
        """Move the device from `state.health` to `to`, record the transition and change the counts, in one
        transaction; None if the device changed meanwhile (nothing was written)."""
        previous = H.device_status(state.health)
        condition = DeviceModel.id.exists() & _health_is(state.health)
        actions: list[Any]
        if to == H.ONLINE:
            assert last_seen_at is not None
            actions = [
                DeviceModel.health.set(H.ONLINE),
                DeviceModel.health_changed_at.set(at),
                DeviceModel.last_seen_at.set(last_seen_at),
                DeviceModel.online.set(H.ONLINE),
                DeviceModel.offline_at.set(H.offline_deadline(last_seen_at, state.limit_s)),
            ]
        else:
            # Only past the deadline that was read: a message that moved it meanwhile wins.
            condition = condition & (DeviceModel.offline_at == state.offline_at)
            actions = [
                DeviceModel.health.set(to),
                DeviceModel.health_changed_at.set(at),
                DeviceModel.online.remove(),
                DeviceModel.offline_at.remove(),
            ]
        row = StatusChangeModel(
            device_id=state.device_id,
            key=f"{at:013d}#{new_id()}",
            at=at,
            status=to,
            previous=previous,
            last_seen_at=last_seen_at,
            purge_at=datetime.fromtimestamp(at // 1000 + HISTORY_RETENTION_S, tz=UTC),
        )
        try:
            with TransactWrite(connection=_connection()) as write:
                write.update(DeviceModel(state.device_id), actions=actions, condition=condition)
                write.save(row, condition=StatusChangeModel.key.does_not_exist())
                write.update(
                    StatusCountModel(H.count_key(state.device_type, previous)),
                    actions=[StatusCountModel.devices.add(-1)],
                )
                write.update(
                    StatusCountModel(H.count_key(state.device_type, to)), actions=[StatusCountModel.devices.add(1)]
                )
        except TransactWriteError as exc:
            if exc.cause_response_code == "TransactionCanceledException":
                return None
            raise
        return H.StatusChange(state.device_id, state.owner_id, state.device_type, previous, to, at, last_seen_at)

    def overdue(self, now: int, limit: int) -> list[HealthState]:
        """Online devices whose deadline is before `now`, earliest first (the sparse OnlineDevices index)."""
        items = DeviceModel.online_by_deadline.query(H.ONLINE, DeviceModel.offline_at < now, limit=limit)
        return [state_of(item) for item in items]

    def history(
        self, device_id: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[StatusChangeModel], dict[str, Any] | None]:
        result = StatusChangeModel.query(device_id, limit=limit, last_evaluated_key=start, scan_index_forward=False)
        return list(result), result.last_evaluated_key

    def counts(self) -> dict[str, int]:
        """Every count item: one per (type, status) pair ever used, a few dozen at most."""
        return {item.key: int(item.devices) for item in StatusCountModel.scan()}

    def save_new_device(self, device: DeviceModel) -> None:
        """Store a provisioned device and count it as never seen, in one transaction."""
        with TransactWrite(connection=_connection()) as write:
            write.save(device, condition=DeviceModel.id.does_not_exist())
            write.update(
                StatusCountModel(H.count_key(device.type, H.NEVER_SEEN)), actions=[StatusCountModel.devices.add(1)]
            )

    def set_offline_after(self, state: HealthState, limit_s: int) -> None:
        """A new silence limit; an online device's deadline follows it at once."""
        actions: list[Any] = [DeviceModel.offline_after_s.set(limit_s)]
        if state.health == H.ONLINE and state.last_seen_at is not None:
            actions.append(DeviceModel.offline_at.set(H.offline_deadline(state.last_seen_at, limit_s)))
        DeviceModel(state.device_id).update(actions=actions)
