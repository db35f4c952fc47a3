"""The notifications context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the notifications api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from gridshare.http.models import ApiModel, QueryModel
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gridshare.notifications import preferences as P


class QuietHoursIn(ApiModel):
    start: str = Field(pattern=P.HHMM.pattern, description="local time HH:MM (inside the window)")
    end: str = Field(pattern=P.HHMM.pattern, description="local time HH:MM (outside); earlier than start: overnight")
    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            P.check_timezone(value)
        except P.PreferenceError as exc:
            raise ValueError(exc.message) from None
        return value


class PreferencesIn(ApiModel):
    """The whole set (PUT replaces it; a field left out takes its default)."""

    email: bool = True
    sms: bool = Field(default=False, description="needs a phone")
    push: bool = True
    phone: str | None = Field(default=None, max_length=16, description="E.164, e.g. +4915123456789")
    min_severity: Literal["info", "warning", "critical"] = Field(
        default="info", description="alerts below it are not emailed, texted or pushed (the inbox still has them)"
    )
    quiet_hours: QuietHoursIn | None = Field(default=None, description="no email, SMS or push inside, but critical")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                P.check_phone(value)
            except P.PreferenceError as exc:
                raise ValueError(exc.message) from None
        return value


class PushTokenIn(ApiModel):
    platform: Literal["fcm", "apns"]
    token: str = Field(min_length=8, max_length=4096, description="the app's FCM registration token or APNs token")


class InboxQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
