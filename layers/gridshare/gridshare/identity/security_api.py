"""Security routes (admin): the event log, the dashboard and derived threats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ADMIN, ApiBlueprint
from gridshare.http.pagination import page
from gridshare.identity.security import security_service
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.identity.requests import EventsQuery, ThreatsQuery

api = ApiBlueprint("identity")


@api.route(
    "/v1/security/events",
    "GET",
    roles=ADMIN,
    query="EventsQuery",
    response="Page[SecurityEvent]",
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
    response="Envelope[SecurityDashboard]",
    summary="Event counts by type over 24 h and 7 d, locked accounts, top failing IPs (admin)",
)
def security_dashboard(caller: Caller) -> dict:
    return {"data": security_service().dashboard()}


@api.route(
    "/v1/security/threats",
    "GET",
    roles=ADMIN,
    query="ThreatsQuery",
    response="Threats",
    summary="Threats derived from recent events: brute force, credential stuffing, token reuse (admin)",
)
def security_threats(caller: Caller, query: ThreatsQuery) -> dict:
    result = security_service().threats(
        window_ms=query.window_minutes * 60_000, lookback_ms=query.lookback_hours * 3_600_000
    )
    threats = result.pop("threats")
    return {"data": threats, "meta": result}
