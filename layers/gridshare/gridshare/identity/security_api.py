"""Security routes (admin): the event log, the dashboard and derived threats."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from gridshare.http.api import ADMIN, ApiBlueprint
from gridshare.http.models import QueryModel, RangeQuery, from_param, to_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.responses import Envelope, Page
from gridshare.identity.responses import SecurityDashboard, SecurityEvent, Threats
from gridshare.identity.security import DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS, security_service
from gridshare.identity.security_log import EVENT_TYPES
from gridshare.kernel.roles import Caller

api = ApiBlueprint("identity")


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


@api.route(
    "/v1/security/events",
    "GET",
    roles=ADMIN,
    query=EventsQuery,
    response=Page[SecurityEvent],
    summary="Security events newest first; filter by user, type and time (admin)",
)
def list_security_events(caller: Caller, query: EventsQuery) -> dict:
    window = query.window()
    items, cursor = security_service().events(
        user_id=query.user_id,
        event_type=query.type,
        from_ms=window.start,
        to_ms=window.end,
        limit=query.limit,
        cursor=query.cursor,
    )
    return page(items, query.limit, cursor)


@api.route(
    "/v1/security/dashboard",
    "GET",
    roles=ADMIN,
    response=Envelope[SecurityDashboard],
    summary="Event counts by type over 24 h and 7 d, locked accounts, top failing IPs (admin)",
)
def security_dashboard(caller: Caller) -> dict:
    return {"data": security_service().dashboard()}


@api.route(
    "/v1/security/threats",
    "GET",
    roles=ADMIN,
    query=ThreatsQuery,
    response=Threats,
    summary="Threats derived from recent events: brute force, credential stuffing, token reuse (admin)",
)
def security_threats(caller: Caller, query: ThreatsQuery) -> dict:
    result = security_service().threats(
        window_ms=query.window_minutes * 60_000, lookback_ms=query.lookback_hours * 3_600_000
    )
    threats = result.pop("threats")
    return {"data": threats, "meta": result}
