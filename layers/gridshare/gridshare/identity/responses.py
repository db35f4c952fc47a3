"""Identity's response bodies (gridshare.http.responses): users, tokens, 2FA, the security log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gridshare.http.responses import ResponseModel, Timestamp
from gridshare.identity.security_log import EVENT_TYPES
from gridshare.kernel.roles import ROLE_ORDER

# The same tuples the code writes from, so the document cannot miss a value.
RoleName = Literal[ROLE_ORDER]  # type: ignore[valid-type]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class User(ResponseModel):
    """A user's profile (identity.service.user_view)."""

    id: str
    email: str
    name: str
    role: RoleName
    status: Literal["pending", "active", "disabled"] = Field(description="pending until the email is verified")
    phone: str | None = Field(description="E.164")
    avatar_url: str | None
    preferences: dict[str, Any] = Field(description="free-form app preferences")
    two_factor_enabled: bool
    created_at: Timestamp


class Tokens(ResponseModel):
    """A completed login or refresh: Cognito tokens and the user."""

    access_token: str = Field(description="send as `Authorization: Bearer <accessToken>`")
    refresh_token: str | None = Field(description="null when refreshing: keep using the one you have")
    id_token: str
    expires_in: int = Field(description="seconds until the access token expires")
    token_type: Literal["Bearer"]
    user: User


class TwoFactorChallenge(ResponseModel):
    """A password login of an account with 2FA on: complete it at POST /v1/auth/login/2fa."""

    challenge: Literal["TOTP"]
    session: str = Field(description="pass to POST /v1/auth/login/2fa with the current code")


class Accepted(ResponseModel):
    """The same answer whatever the account (nothing is revealed)."""

    message: str


class TwoFactorSetup(ResponseModel):
    secret: str = Field(description="base32 TOTP secret (RFC 6238, 30 s, 6 digits)")
    otpauth_uri: str = Field(description="otpauth:// URI for an authenticator app's QR code")


class TwoFactorState(ResponseModel):
    two_factor_enabled: bool


class SecurityEvent(ResponseModel):
    """One entry of the append-only security log (identity.security.event_view)."""

    id: str
    type: EventType
    at: Timestamp
    user_id: str | None
    email_hash: str | None = Field(description="SHA-256 prefix of the normalized email (unknown accounts too)")
    ip: str | None
    user_agent: str | None
    detail: Any = Field(description="what else the event recorded (a JSON object), or null")


class EventCounts(ResponseModel):
    last24h: dict[EventType, int] = Field(alias="last24h")
    last7d: dict[EventType, int] = Field(alias="last7d")


class EventTotals(ResponseModel):
    last24h: int = Field(alias="last24h")
    last7d: int = Field(alias="last7d")


class AccountLock(ResponseModel):
    kind: Literal["login", "2fa", "reset"]
    email_hash: str | None
    user_id: str | None = Field(description="null for a locked email no user has")
    locked_until: Timestamp


class IpThrottle(ResponseModel):
    kind: Literal["login", "reset"]
    ip: str
    locked_until: Timestamp


class FailingIp(ResponseModel):
    ip: str
    failures: int
    accounts: int = Field(description="distinct accounts the failures were on")
    last_seen: Timestamp


class SecurityDashboard(ResponseModel):
    generated_at: Timestamp
    counts: EventCounts
    totals: EventTotals
    locked_accounts: list[AccountLock]
    throttled_ips: list[IpThrottle]
    top_failing_ips: list[FailingIp] = Field(description="login failures of the last 24 h")
    truncated: bool = Field(description="more events than one report reads: counts are lower bounds")


class ThreatSubject(ResponseModel):
    kind: Literal["account", "ip", "user"]
    id: str = Field(description="an email hash, an IP or a user id")
    user_id: str | None


class Threat(ResponseModel):
    type: Literal["brute_force", "credential_stuffing", "token_reuse_after_logout"]
    severity: Literal["high", "medium", "low"]
    subject: ThreatSubject
    count: int = Field(description="the headline number (see counts for the rest)")
    counts: dict[str, int]
    ips: list[str]
    first_seen: Timestamp
    last_seen: Timestamp


class ThreatThresholds(ResponseModel):
    brute_force: int
    credential_stuffing: int


class ThreatsMeta(ResponseModel):
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    window_minutes: int
    thresholds: ThreatThresholds
    events_read: int
    truncated: bool


class Threats(ResponseModel):
    """Threats derived from recent events, and how they were derived."""

    data: list[Threat]
    meta: ThreatsMeta
