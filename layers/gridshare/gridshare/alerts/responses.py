"""Alerts' response bodies (gridshare.http.responses); the views are gridshare.alerts.views."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridshare.http.responses import ResponseModel, Timestamp

Kind = Literal["threshold", "leak", "offline", "low_level", "generation_drop", "consumption_spike"]
Operator = Literal[">", ">=", "<", "<="]
Severity = Literal["info", "warning", "critical"]
Channel = Literal["push", "email", "sms", "websocket"]
AlertStatus = Literal["open", "acknowledged", "resolved"]


class AlertRule(ResponseModel):
    """An alert rule (alerts.views.rule_view)."""

    id: str = Field(description="a ULID; a default rule's is `leak-<deviceId>` or `offline-<deviceId>`")
    owner_id: str
    name: str
    device_id: str | None
    site_id: str | None
    kind: Kind
    metric: str | None
    operator: Operator | None
    threshold: int | float | None
    for_s: int = Field(description="seconds the condition must hold before an alert opens (and be clear to resolve)")
    severity: Severity
    channels: list[Channel]
    default: bool = Field(description="a default rule every device (offline) or gas sensor (leak) gets")
    deletable: bool = Field(description="false for a gas sensor's default leak rule")
    created_at: Timestamp
    updated_at: Timestamp


class Alert(ResponseModel):
    """An alert (alerts.views.alert_view): one open alert per (rule, device) at a time."""

    id: str
    rule_id: str
    device_id: str | None
    site_id: str | None
    node_id: str | None = Field(description="the grid node, when known (seed 000's grid_alerts.node_id)")
    owner_id: str
    kind: Kind
    type: Kind = Field(description="the same as kind (seed 000's grid_alerts.type)")
    severity: Severity
    status: AlertStatus
    title: str
    message: str
    metric: str | None
    count: int = Field(description="how many times the condition was seen while the alert was open")
    last_value: float | int | bool | None
    opened_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: Timestamp | None
    note: str | None
    resolved: bool
    resolved_at: Timestamp | None
    resolved_by: str | None = Field(description="the user who resolved it, or `auto` when its condition cleared")
    reminders: int = Field(description="reminders sent for a critical alert nobody acknowledged")
    escalated: bool = Field(description="escalated to the platform's operators after the last reminder")
    test: bool = Field(description="true only in the synthetic alert of POST /v1/alert-rules/{id}/test")
