"""The public JSON of alert rules and alerts: what the API answers under "data" and what alert events carry
(docs/events.md: the event's `alert` is exactly `GET /v1/alerts/{id}`'s data)."""

from __future__ import annotations

from typing import Any

from gridshare.alerts.evaluation import Value
from gridshare.alerts.models import AlertModel, AlertRuleModel
from gridshare.kernel.clock import to_iso

TITLES = {
    "leak": "Gas leak detected",
    "offline": "Device offline",
    "low_level": "Gas level low",
    "threshold": "Threshold crossed",
    "generation_drop": "Generation dropped",
    "consumption_spike": "Consumption spike",
}


def _iso(value: Any) -> str | None:
    return to_iso(int(value)) if value is not None else None


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def rule_view(rule: AlertRuleModel) -> dict[str, Any]:
    return {
        "id": rule.id,
        "ownerId": rule.owner_id,
        "name": rule.name,
        "deviceId": rule.device_id,
        "siteId": rule.site_id,
        "kind": rule.kind,
        "metric": rule.metric,
        "operator": rule.operator,
        "threshold": _number(rule.threshold),
        "forS": int(rule.for_s),
        "severity": rule.severity,
        "channels": list(rule.channels),
        "default": rule.default_of is not None,
        "deletable": rule.default_of != "leak",
        "createdAt": to_iso(int(rule.created_at)),
        "updatedAt": to_iso(int(rule.updated_at)),
    }


def _value(value: Any) -> Value | None:
    if value is None or isinstance(value, bool):
        return value  # type: ignore[no-any-return]
    return _number(value)


def describe(rule: AlertRuleModel, device_id: str, value: Value | None) -> tuple[str, str]:
    """The alert's title and message, from its rule and the value that opened it."""
    title = TITLES.get(rule.kind, rule.name)
    if rule.kind == "leak":
        return title, f"Device {device_id} reported a gas leak ({rule.name})."
    if rule.kind == "offline":
        return title, f"Device {device_id} has gone silent ({rule.name})."
    shown = _value(value)
    if rule.kind in ("generation_drop", "consumption_spike"):
        side = "below" if rule.kind == "generation_drop" else "above"
        return title, (
            f"{rule.name}: {rule.metric} of device {device_id} was {shown} Wh in the last 15 minutes, far {side} "
            f"the same quarter-hour of the previous 7 days (k = {_number(rule.threshold)})."
        )
    return title, (
        f"{rule.name}: {rule.metric} of device {device_id} is {shown} "
        f"({rule.operator} {_number(rule.threshold)}, held {int(rule.for_s)} s)."
    )


def alert_view(alert: AlertModel, test: bool = False) -> dict[str, Any]:
    return {
        "id": alert.id,
        "ruleId": alert.rule_id,
        "deviceId": alert.device_id,
        "siteId": alert.site_id,
        "nodeId": alert.node_id,
        "ownerId": alert.owner_id,
        "kind": alert.kind,
        "type": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "message": alert.message,
        "metric": alert.metric,
        "count": int(alert.count),
        "lastValue": _value(alert.last_value),
        "openedAt": to_iso(int(alert.opened_at)),
        "createdAt": to_iso(int(alert.opened_at)),
        "updatedAt": to_iso(int(alert.updated_at)),
        "acknowledged": bool(alert.acknowledged),
        "acknowledgedBy": alert.acknowledged_by,
        "acknowledgedAt": _iso(alert.acknowledged_at),
        "note": alert.note,
        "resolved": bool(alert.resolved),
        "resolvedAt": _iso(alert.resolved_at),
        "resolvedBy": alert.resolved_by,
        "reminders": int(alert.reminders),
        "escalated": bool(alert.escalated),
        "test": test,
    }
