"""DynamoDB storage of alert rules, evaluation states and alerts; PynamoDB errors become kernel errors here.

Invariants:
- one open alert per (rule, device): an alert is opened only in the same transaction as the (rule, device)'s
  state item, conditioned on the state's `version` (or its absence), so of two evaluators racing on one
  (rule, device) exactly one opens an alert; the other's transaction is refused and it re-reads;
- a manual resolve closes the state in the same transaction, so the next breach opens a new alert;
- default rules are put on condition that their id is absent: materialising is idempotent and never
  overwrites a user's edits (or a deleted default rule's tombstone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from gridshare.alerts.evaluation import Hold
from gridshare.alerts.models import AlertModel, AlertRuleModel, AlertStateModel
from gridshare.kernel import errors
from gridshare.kernel.settings import get_settings
from gridshare.kernel.tables import failed_condition

__all__ = ["AlertStore", "RuleStore", "StateConflict", "state_key"]


class StateConflict(Exception):
    """The (rule, device)'s state changed since it was read; read it again and re-apply."""


def state_key(rule_id: str, device_id: str) -> str:
    return f"{rule_id}#{device_id}"


def _connection() -> Connection:
    return Connection(region=get_settings().region)


@dataclass
class RuleStore:
    def get(self, rule_id: str) -> AlertRuleModel | None:
        try:
            rule = AlertRuleModel.get(rule_id, consistent_read=True)
        except DoesNotExist:
            return None
        return rule

    def put_new(self, rule: AlertRuleModel) -> bool:
        """Store a rule whose id is new; False if one with that id exists (a default already materialised)."""
        try:
            rule.save(condition=AlertRuleModel.id.does_not_exist())
        except PutError as exc:
            if failed_condition(exc):
                return False
            raise
        return True

    def replace(self, rule: AlertRuleModel) -> None:
        try:
            rule.save(condition=AlertRuleModel.id.exists())
        except PutError as exc:
            if failed_condition(exc):
                raise errors.NotFound("No such alert rule.") from None
            raise

    def delete(self, rule: AlertRuleModel) -> None:
        rule.delete()

    def page(
        self, owner_id: str | None, device_id: str | None, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[AlertRuleModel], dict[str, Any] | None]:
        """A page of live rules: an owner's (optionally of one device), or every rule (owner None)."""
        live = AlertRuleModel.deleted_at.does_not_exist()
        if device_id is not None:
            condition = live if owner_id is None else live & (AlertRuleModel.owner_id == owner_id)
            result = AlertRuleModel.by_device.query(
                device_id, filter_condition=condition, limit=limit, last_evaluated_key=start
            )
        elif owner_id is not None:
            result = AlertRuleModel.by_owner.query(
                owner_id, filter_condition=live, limit=limit, last_evaluated_key=start, scan_index_forward=False
            )
        else:
            result = AlertRuleModel.scan(filter_condition=live, limit=limit, last_evaluated_key=start)
        return list(result), result.last_evaluated_key

    def for_device(self, device_id: str) -> list[AlertRuleModel]:
        return [r for r in AlertRuleModel.by_device.query(device_id) if r.deleted_at is None]

    def for_site(self, site_id: str) -> list[AlertRuleModel]:
        return [r for r in AlertRuleModel.by_site.query(site_id) if r.deleted_at is None]

    def baseline_rules(self, limit: int) -> list[AlertRuleModel]:
        """Live generation_drop / consumption_spike rules (the sparse BaselineRules index), at most `limit`."""
        return [r for r in AlertRuleModel.baseline_rules.query("yes", limit=limit) if r.deleted_at is None]

    def claim(self, key: str) -> bool:
        """Claim a once-only run (a marker item in the states table); False if it was claimed already."""
        try:
            AlertStateModel(key=key, version=1).save(condition=AlertStateModel.key.does_not_exist())
        except PutError as exc:
            if failed_condition(exc):
                return False
            raise
        return True


def hold_of(state: AlertStateModel | None) -> Hold:
    if state is None:
        return Hold()
    return Hold(
        breach_since=int(state.breach_since) if state.breach_since is not None else None,
        clear_since=int(state.clear_since) if state.clear_since is not None else None,
        open=state.open_alert_id is not None,
        last_at=int(state.last_at) if state.last_at is not None else None,
    )


def _version_is(state: AlertStateModel | None) -> Any:
    if state is None:
        return AlertStateModel.key.does_not_exist()
    return AlertStateModel.version == int(state.version)


@dataclass
class AlertStore:
    # ------------------------------------------------------------ evaluation state
    def state(self, rule_id: str, device_id: str) -> AlertStateModel | None:
        try:
            return AlertStateModel.get(state_key(rule_id, device_id), consistent_read=True)
        except DoesNotExist:
            return None

    def apply(
        self,
        key: str,
        read: AlertStateModel | None,
        hold: Hold,
        open_alert_id: str | None,
        new_alerts: Iterable[AlertModel],
        resolve: tuple[str, int] | None,
    ) -> None:
        """Write the (rule, device)'s new state, the alerts it opened and the resolution of the alert that was
        open, in one transaction conditioned on the state read; StateConflict if it moved meanwhile."""
        version = int(read.version) + 1 if read is not None else 1
        state = AlertStateModel(
            key=key,
            version=version,
            breach_since=hold.breach_since,
            clear_since=hold.clear_since,
            last_at=hold.last_at,
            open_alert_id=open_alert_id,
        )
        try:
            with TransactWrite(connection=_connection()) as write:
                write.save(state, condition=_version_is(read))
                for alert in new_alerts:
                    write.save(alert, condition=AlertModel.id.does_not_exist())
                if resolve is not None:
                    alert_id, at = resolve
                    write.update(
                        AlertModel(alert_id),
                        actions=_resolve_actions(at, "auto"),
                        condition=AlertModel.resolved == False,  # noqa: E712 (a PynamoDB condition)
                    )
        except TransactWriteError as exc:
            if exc.cause_response_code == "TransactionCanceledException":
                raise StateConflict(key) from None
            raise

    def repeat(self, alert_id: str, times: int, value: Any, at: int) -> AlertModel | None:
        """Count `times` more breaches of an unresolved alert and keep the last value; the alert after, or
        None if it was resolved meanwhile."""
        alert = AlertModel(alert_id)
        try:
            alert.update(
                actions=[
                    AlertModel.count.add(times),
                    AlertModel.last_value.set(value),
                    AlertModel.updated_at.set(at),
                ],
                condition=AlertModel.resolved == False,  # noqa: E712
            )
        except UpdateError as exc:
            if failed_condition(exc):
                return None
            raise
        return alert

    # ------------------------------------------------------------ alerts
    def get(self, alert_id: str) -> AlertModel | None:
        try:
            return AlertModel.get(alert_id, consistent_read=True)
        except DoesNotExist:
            return None

    def page(
        self,
        owner_id: str | None,
        status: str | None,
        severity: str | None,
        device_id: str | None,
        limit: int,
        start: dict[str, Any] | None,
    ) -> tuple[list[AlertModel], dict[str, Any] | None]:
        """A page of alerts, newest first: an owner's, or every alert (owner None). DynamoDB filters after
        reading `limit` items, so a page may hold fewer and still have a next cursor."""
        conditions = []
        if owner_id is not None and device_id is not None:
            conditions.append(AlertModel.owner_id == owner_id)
        if status is not None and (device_id is not None or owner_id is not None):
            conditions.append(AlertModel.status == status)  # else it is the by_status query's key
        if severity is not None:
            conditions.append(AlertModel.severity == severity)
        condition = None
        for c in conditions:
            condition = c if condition is None else condition & c
        common: dict[str, Any] = {"limit": limit, "last_evaluated_key": start, "filter_condition": condition}
        if device_id is not None:
            result = AlertModel.by_device.query(device_id, scan_index_forward=False, **common)
        elif owner_id is not None:
            result = AlertModel.by_owner.query(owner_id, scan_index_forward=False, **common)
        elif status is not None:
            result = AlertModel.by_status.query(status, scan_index_forward=False, **common)
        else:
            result = AlertModel.scan(**common)
        return list(result), result.last_evaluated_key

    def acknowledge(self, alert: AlertModel, user_id: str, note: str | None, at: int) -> AlertModel:
        """Open -> acknowledged (reminders stop); refused (409) once resolved; acknowledging again keeps the
        first acknowledgement."""
        try:
            alert.update(
                actions=[
                    AlertModel.status.set("acknowledged"),
                    AlertModel.acknowledged.set(True),
                    AlertModel.acknowledged_by.set(user_id),
                    AlertModel.acknowledged_at.set(at),
                    AlertModel.note.set(note),
                    AlertModel.updated_at.set(at),
                    AlertModel.remind.remove(),
                    AlertModel.next_reminder_at.remove(),
                ],
                condition=AlertModel.status == "open",
            )
        except UpdateError as exc:
            if failed_condition(exc):
                raise errors.Conflict(
                    "The alert is not open: it was acknowledged or resolved already.",
                    errors=[errors.FieldError("status", "not open")],
                ) from None
            raise
        return alert

    def resolve(self, alert: AlertModel, user_id: str, at: int) -> AlertModel:
        """Resolve by hand, closing the (rule, device)'s state if this alert is its open one (one
        transaction), so the next breach opens a new alert. 409 if already resolved."""
        key = state_key(alert.rule_id, alert.device_id)
        try:
            with TransactWrite(connection=_connection()) as write:
                write.update(
                    AlertModel(alert.id),
                    actions=_resolve_actions(at, user_id),
                    condition=AlertModel.resolved == False,  # noqa: E712
                )
                state = self.state(alert.rule_id, alert.device_id)
                if state is not None and state.open_alert_id == alert.id:
                    write.update(
                        AlertStateModel(key),
                        actions=[
                            AlertStateModel.open_alert_id.remove(),
                            AlertStateModel.breach_since.remove(),
                            AlertStateModel.clear_since.remove(),
                            AlertStateModel.version.add(1),
                        ],
                        condition=AlertStateModel.version == int(state.version),
                    )
        except TransactWriteError as exc:
            if exc.cause_response_code == "TransactionCanceledException":
                raise errors.Conflict(
                    "The alert was resolved already, or changed meanwhile; read it again.",
                    errors=[errors.FieldError("status", "resolved or changed")],
                ) from None
            raise
        fresh = self.get(alert.id)
        assert fresh is not None
        return fresh

    # ------------------------------------------------------------ reminders
    def due(self, now: int, limit: int) -> list[str]:
        """Ids of alerts whose next reminder (or escalation) is due, earliest first."""
        items = AlertModel.due_reminders.query("due", AlertModel.next_reminder_at <= now, limit=limit)
        return [item.id for item in items]

    def remind(self, alert: AlertModel, number: int, next_at: int | None) -> bool:
        """Record reminder `number` (next due at `next_at`) or, with `next_at` None, the escalation; False if
        another run did it, or the alert was acknowledged or resolved meanwhile."""
        if next_at is not None:
            actions = [AlertModel.reminders.set(number), AlertModel.next_reminder_at.set(next_at)]
        else:
            actions = [AlertModel.escalated.set(True), AlertModel.remind.remove(), AlertModel.next_reminder_at.remove()]
        try:
            alert.update(
                actions=actions,
                condition=(AlertModel.status == "open")
                & (AlertModel.reminders == int(alert.reminders))
                & (AlertModel.remind == "due"),
            )
        except UpdateError as exc:
            if failed_condition(exc):
                return False
            raise
        return True


def _resolve_actions(at: int, by: str) -> list[Any]:
    return [
        AlertModel.status.set("resolved"),
        AlertModel.resolved.set(True),
        AlertModel.resolved_at.set(at),
        AlertModel.resolved_by.set(by),
        AlertModel.updated_at.set(at),
        AlertModel.remind.remove(),
        AlertModel.next_reminder_at.remove(),
    ]
