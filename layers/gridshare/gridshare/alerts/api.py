"""Alert routes: list, read, acknowledge, resolve (docs/alerts.md).

Owners see their devices' alerts; admins and operators see all. Another user's alert is 404.
Acknowledging or resolving publishes AlertUpdated (docs/events.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.alerts.rules_api import OWNERS
from gridshare.alerts.service import AlertsService, alerts_service
from gridshare.http.api import ApiBlueprint
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.alerts.requests import AcknowledgeBody, AlertsQuery

api = ApiBlueprint("alerts")


def service() -> AlertsService:
    return alerts_service()


@api.route(
    "/v1/alerts",
    "GET",
    roles=OWNERS,
    query="AlertsQuery",
    response="Page[Alert]",
    summary="Alerts, newest first, by status, severity, device (owners: theirs; admins and operators: all)",
)
def list_alerts(caller: Caller, query: AlertsQuery) -> dict:
    items, cursor = service().list(caller, query.status, query.severity, query.device_id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route("/v1/alerts/{id}", "GET", roles=OWNERS, response="Envelope[Alert]", summary="An alert")
def get_alert(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get(caller, id)}


@api.route(
    "/v1/alerts/{id}/acknowledge",
    "POST",
    roles=OWNERS,
    body="AcknowledgeBody",
    response="Envelope[Alert]",
    errors=(409,),  # acknowledged or resolved already
    summary="Acknowledge an open alert, with an optional note (reminders stop)",
)
def acknowledge_alert(caller: Caller, id: str, body: AcknowledgeBody) -> dict:  # noqa: A002
    return {"data": service().acknowledge(caller.user_id, (caller.role,), id, body.note)}


@api.route(
    "/v1/alerts/{id}/resolve",
    "POST",
    roles=OWNERS,
    response="Envelope[Alert]",
    errors=(409,),  # resolved already
    summary="Resolve an alert by hand; the next breach opens a new one",
)
def resolve_alert(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().resolve(caller, id)}
