"""The identity context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the identity api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import EmailStr, Field, HttpUrl, field_validator

from gridshare.http.models import ApiModel, QueryModel, RangeQuery, from_param, to_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gridshare.identity.security import DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS
from gridshare.identity.security_log import EVENT_TYPES


class RegisterBody(ApiModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=120)
    role: Literal["prosumer", "consumer", "investor"]


class VerifyEmailBody(ApiModel):
    email: EmailStr
    code: str = Field(pattern=r"^[0-9]{6}$", description="the 6-digit code that was emailed")


class LoginBody(ApiModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class RefreshBody(ApiModel):
    refresh_token: str = Field(min_length=1, max_length=8192)


class EmailBody(ApiModel):
    email: EmailStr


class ResetPasswordBody(ApiModel):
    email: EmailStr
    code: str = Field(pattern=r"^[0-9]{6}$", description="the 6-digit code that was emailed")
    new_password: str = Field(min_length=8, max_length=256)


class CodeBody(ApiModel):
    code: str = Field(pattern=r"^[0-9]{6}$", description="The current 6-digit code of the authenticator app")


class LoginTwoFactorBody(ApiModel):
    session: str = Field(min_length=1, max_length=256, description="The `session` of the login's TOTP challenge")
    code: str = Field(pattern=r"^[0-9]{6}$", description="The current 6-digit code of the authenticator app")


class EventsQuery(RangeQuery):
    """Defaults: `to` now, `from` 7 days before `to`; at most 92 days."""

    DEFAULT_SPAN_DAYS: ClassVar[int] = DEFAULT_RANGE_DAYS
    MAX_SPAN_DAYS: ClassVar[int | None] = MAX_RANGE_DAYS

    from_: str | None = from_param(
        f"default {DEFAULT_RANGE_DAYS} days before `to`; at most {MAX_RANGE_DAYS} days before `to`"
    )
    to: str | None = to_param()
    user_id: str | None = Field(default=None, min_length=1, max_length=64)
    type: str | None = Field(default=None, description=f"one of {', '.join(EVENT_TYPES)}")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, value: str | None) -> str | None:
        if value is not None and value not in EVENT_TYPES:
            raise ValueError(f"one of {', '.join(EVENT_TYPES)}")
        return value


class ThreatsQuery(QueryModel):
    window_minutes: int = Field(default=60, ge=1, le=24 * 60, description="the window failures are counted in")
    lookback_hours: int = Field(default=24, ge=1, le=7 * 24, description="how far back events are read")


Role = Literal["admin", "operator", "prosumer", "consumer", "investor", "viewer"]


class ListUsersQuery(QueryModel):
    role: Role | None = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class UpdateUserBody(ApiModel):
    role: Role | None = None
    status: Literal["active", "disabled"] | None = None


class UpdateMeBody(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$", description="E.164, e.g. +4915112345678")
    avatar_url: HttpUrl | None = None
    preferences: dict[str, Any] | None = Field(default=None, description="free-form app preferences (max 4 KiB)")
