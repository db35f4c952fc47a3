"""Notifications' response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridshare.http.responses import ResponseModel, Timestamp

Severity = Literal["info", "warning", "critical"]


class QuietHoursOut(ResponseModel):
    start: str = Field(description="local time HH:MM, inside the window")
    end: str = Field(description="local time HH:MM, outside the window; earlier than start: across midnight")
    timezone: str = Field(description="IANA time zone of start and end")


class NotificationPreferences(ResponseModel):
    email: bool
    sms: bool
    push: bool
    phone: str | None = Field(description="E.164")
    min_severity: Severity
    quiet_hours: QuietHoursOut | None = Field(description="critical alerts ignore them")


class PushToken(ResponseModel):
    id: str
    platform: Literal["fcm", "apns"]
    token: str
    created_at: Timestamp


class InboxEntry(ResponseModel):
    id: str
    type: Literal["alert.opened", "alert.updated", "settlement.completed", "settlement.failed"]
    alert_id: str | None = Field(description="the alert of an alert.* entry")
    run_id: str | None = Field(description="the settlement run of a settlement.* entry (GET /v1/settlements/{id})")
    occurrence: str = Field(
        description="which event of the alert: opened, updated-<n>, reminder-<n>, escalated, ...; "
        "for a settlement entry, its type"
    )
    severity: Severity
    title: str
    message: str
    device_id: str | None
    test: bool = Field(description="sent by POST /v1/alert-rules/{id}/test")
    read: bool
    read_at: Timestamp | None
    created_at: Timestamp
