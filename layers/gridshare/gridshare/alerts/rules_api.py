"""Alert rule routes: create, list, read, change, delete, test (docs/alerts.md).

Owners manage the rules of their devices and sites; admins and operators read every rule, admins change
any. Another user's rule, device or site is 404. What each kind needs is checked by
gridshare.alerts.rules (a 422 names the field).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.alerts.rule_service import RuleService, rule_service
from gridshare.http.api import ApiBlueprint
from gridshare.http.no_content import NO_CONTENT
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.alerts.requests import RuleBody, RulePatch, RulesQuery

api = ApiBlueprint("alerts")

OWNERS: frozenset[str] = frozenset({"admin", "operator", "prosumer", "consumer", "investor"})
"""Who has devices (the devices routes' roles), hence rules and alerts."""


def service() -> RuleService:
    return rule_service()


@api.route(
    "/v1/alert-rules",
    "POST",
    roles=OWNERS,
    body="RuleBody",
    status=201,
    response="Envelope[AlertRule]",
    errors=(404,),  # the device or site is not the caller's
    summary="Create an alert rule on one of the caller's devices (deviceId) or sites (siteId)",
)
def create_rule(caller: Caller, body: RuleBody) -> dict:
    return {"data": service().create(caller, body.attributes())}


@api.route(
    "/v1/alert-rules",
    "GET",
    roles=OWNERS,
    query="RulesQuery",
    response="Page[AlertRule]",
    errors=(404,),  # deviceId is not the caller's device
    summary="The caller's alert rules, default ones included (admins and operators: every rule)",
)
def list_rules(caller: Caller, query: RulesQuery) -> dict:
    items, cursor = service().list(caller, query.device_id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route("/v1/alert-rules/{id}", "GET", roles=OWNERS, response="Envelope[AlertRule]", summary="An alert rule")
def get_rule(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get(caller, id)}


@api.route(
    "/v1/alert-rules/{id}",
    "PATCH",
    roles=OWNERS,
    body="RulePatch",
    response="Envelope[AlertRule]",
    summary="Change an alert rule (default rules too); its kind and target stay",
)
def update_rule(caller: Caller, id: str, body: RulePatch) -> dict:  # noqa: A002
    return {"data": service().update(caller, id, body.attributes(only_set=True))}


@api.route(
    "/v1/alert-rules/{id}",
    "DELETE",
    roles=OWNERS,
    status=204,
    response=NO_CONTENT,
    errors=(409,),  # a gas sensor's default leak rule
    summary="Delete an alert rule (not a gas sensor's default leak rule)",
)
def delete_rule(caller: Caller, id: str) -> None:  # noqa: A002
    service().delete(caller, id)


@api.route(
    "/v1/alert-rules/{id}/test",
    "POST",
    roles=OWNERS,
    status=202,
    response="Envelope[Alert]",
    summary="Send a test notification on the rule's channels (a synthetic alert marked test; nothing stored)",
)
def test_rule(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().test(caller, id)}
