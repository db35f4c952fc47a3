"""Readings and dead-letter routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ADMIN, ANY_ROLE, ApiBlueprint
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller
from gridshare.telemetry.service import TelemetryService, telemetry_service

if TYPE_CHECKING:
    from gridshare.telemetry.requests import DeadLetterQuery, HistoryQuery

api = ApiBlueprint("telemetry")


def service() -> TelemetryService:
    return telemetry_service()


@api.route(
    "/v1/devices/{id}/readings/latest",
    "GET",
    roles=ANY_ROLE,
    response="Envelope[LatestReading]",
    summary="The device's newest reading",
)
def latest_reading(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().latest(caller, id)}


@api.route(
    "/v1/devices/{id}/readings",
    "GET",
    roles=ANY_ROLE,
    query="HistoryQuery",
    response="ReadingsPage",
    summary="History of one metric: raw readings or 15m/1h/1d rollups",
)
def reading_history(caller: Caller, id: str, query: HistoryQuery) -> dict:  # noqa: A002
    window = query.window()
    points, cursor = service().history(
        caller, id, query.metric, window.start, window.end, query.resolution, query.limit, query.cursor
    )
    return page(points, query.limit, cursor, meta={"metric": query.metric, "resolution": query.resolution})


@api.route(
    "/v1/telemetry/dead-letters",
    "GET",
    roles=ADMIN,
    query="DeadLetterQuery",
    response="Page[DeadLetter]",
    summary="Rejected device messages with every reason (admin)",
)
def list_dead_letters(caller: Caller, query: DeadLetterQuery) -> dict:
    items, cursor = service().list_dead_letters(query.status, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/telemetry/dead-letters/{id}/replay",
    "POST",
    roles=ADMIN,
    response="Envelope[ReplayedDeadLetter]",
    errors=(409, 422),  # already replayed; the message is still invalid
    summary="Run a dead letter through ingest again (admin)",
)
def replay_dead_letter(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().replay(id)}
