"""Alert use cases: list, read, acknowledge, resolve; the evaluator and the reminder schedule's services.

Owners see the alerts of their devices (and sites); admins and operators see every alert (grid operators
are the `operator` role: they see all, decision 0017). Another user's alert is 404, never 403.
Acknowledging or resolving publishes AlertUpdated (occurrences `updated-acknowledged`,
`updated-resolved`: each happens once per alert). `acknowledge(user_id, roles, alert_id, note)` is the
entry the WebSocket side calls (`{"action": "acknowledgeAlert"}`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gridshare.alerts import alert_events as E
from gridshare.alerts.lifecycle import Evaluator
from gridshare.alerts.models import AlertModel
from gridshare.alerts.reminders import Reminders
from gridshare.alerts.store import AlertStore
from gridshare.alerts.views import alert_view
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.roles import ROLE_ORDER, Caller

__all__ = ["AlertsService", "acknowledge", "alerts_service", "evaluator", "reminders"]

SEES_ALL = frozenset({"admin", "operator"})


@dataclass
class AlertsService:
    store: AlertStore = field(default_factory=AlertStore)
    publisher: E.AlertPublisher = field(default_factory=E.EventBridgeAlertPublisher)
    clock: Callable[[], int] = now_ms

    def _visible(self, user_id: str, roles: Iterable[str], alert_id: str) -> AlertModel:
        alert = self.store.get(alert_id)
        if alert is None or (alert.owner_id != user_id and not SEES_ALL & set(roles)):
            raise errors.NotFound("No such alert.")
        return alert

    def list(
        self,
        caller: Caller,
        status: str | None,
        severity: str | None,
        device_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor)
        owner = None if caller.role in SEES_ALL else caller.user_id
        if owner is not None and start is not None and start.get("owner_id", {}).get("S", owner) != owner:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        alerts, last = self.store.page(owner, status, severity, device_id, limit, start)
        return [alert_view(a) for a in alerts], encode_cursor(last)

    def get(self, caller: Caller, alert_id: str) -> dict[str, Any]:
        return alert_view(self._visible(caller.user_id, (caller.role,), alert_id))

    def acknowledge(self, user_id: str, roles: Iterable[str], alert_id: str, note: str | None) -> dict[str, Any]:
        alert = self._visible(user_id, roles, alert_id)
        alert = self.store.acknowledge(alert, user_id, note, self.clock())
        view = alert_view(alert)
        self.publisher.publish([E.alert_event(E.UPDATED, view, list(alert.channels), "updated-acknowledged")])
        return view

    def resolve(self, caller: Caller, alert_id: str) -> dict[str, Any]:
        alert = self._visible(caller.user_id, (caller.role,), alert_id)
        alert = self.store.resolve(alert, caller.user_id, self.clock())
        view = alert_view(alert)
        self.publisher.publish([E.alert_event(E.UPDATED, view, list(alert.channels), "updated-resolved")])
        return view


alerts_service = ServiceFactory(AlertsService)
evaluator = ServiceFactory(Evaluator)
reminders = ServiceFactory(Reminders)


def acknowledge(user_id: str, roles: Iterable[str], alert_id: str, note: str | None) -> dict[str, Any]:
    """Acknowledge an alert as `user_id` with `roles` (its owner, or an admin/operator): the alert's public
    JSON after. NotFound for an alert the user may not see, Conflict once it is not open."""
    known = [r for r in roles if r in ROLE_ORDER]
    return alerts_service().acknowledge(user_id, known, alert_id, note)
