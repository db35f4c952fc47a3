"""Alert rule routes: create, list, read, change, delete, test (docs/alerts.md).

Owners manage the rules of their devices and sites; admins and operators read every rule, admins change
any. Another user's rule, device or site is 404. What each kind needs is checked by
gridshare.alerts.rules (a 422 names the field).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StrictInt, model_validator

from gridshare.alerts.responses import Alert, AlertRule, Channel, Kind, Operator, Severity
from gridshare.alerts.rule_service import RuleService, rule_service
from gridshare.alerts.rules import MAX_FOR_S
from gridshare.http.api import ApiBlueprint
from gridshare.http.models import ApiModel, QueryModel
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.responses import NO_CONTENT, Envelope, Page
from gridshare.kernel.roles import Caller

api = ApiBlueprint("alerts")

OWNERS: frozenset[str] = frozenset({"admin", "operator", "prosumer", "consumer", "investor"})
"""Who has devices (the devices routes' roles), hence rules and alerts."""

Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e9, le=1e9)]
Id = Annotated[str, Field(min_length=1, max_length=64)]


class RuleBody(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    device_id: Id | None = None
    site_id: Id | None = None
    kind: Kind
    metric: str | None = Field(default=None, min_length=1, max_length=64)
    operator: Operator | None = None
    threshold: Number | None = None
    for_s: StrictInt = Field(default=0, ge=0, le=MAX_FOR_S)
    severity: Severity | None = Field(default=None, description="default: critical for leak, else warning")
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=4, description="default: all")


class RulePatch(ApiModel):
    """Any of these fields; those left out stay. A rule's kind and what it watches do not change."""

    EMPTY_BODY_ALLOWED: ClassVar[bool] = True

    name: str | None = Field(default=None, min_length=1, max_length=120)
    metric: str | None = Field(default=None, min_length=1, max_length=64)
    operator: Operator | None = None
    threshold: Number | None = None
    for_s: StrictInt | None = Field(default=None, ge=0, le=MAX_FOR_S)
    severity: Severity | None = None
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=4)

    @model_validator(mode="after")
    def _no_nulls(self) -> RulePatch:
        for name in ("name", "for_s", "severity", "channels"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class RulesQuery(QueryModel):
    device_id: str | None = Field(default=None, max_length=64, description="only this device's rules")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


def service() -> RuleService:
    return rule_service()


@api.route(
    "/v1/alert-rules",
    "POST",
    roles=OWNERS,
    body=RuleBody,
    status=201,
    response=Envelope[AlertRule],
    errors=(404,),  # the device or site is not the caller's
    summary="Create an alert rule on one of the caller's devices (deviceId) or sites (siteId)",
)
def create_rule(caller: Caller, body: RuleBody) -> dict:
    return {"data": service().create(caller, body.attributes())}


@api.route(
    "/v1/alert-rules",
    "GET",
    roles=OWNERS,
    query=RulesQuery,
    response=Page[AlertRule],
    errors=(404,),  # deviceId is not the caller's device
    summary="The caller's alert rules, default ones included (admins and operators: every rule)",
)
def list_rules(caller: Caller, query: RulesQuery) -> dict:
    items, cursor = service().list(caller, query.device_id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route("/v1/alert-rules/{id}", "GET", roles=OWNERS, response=Envelope[AlertRule], summary="An alert rule")
def get_rule(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get(caller, id)}


@api.route(
    "/v1/alert-rules/{id}",
    "PATCH",
    roles=OWNERS,
    body=RulePatch,
    response=Envelope[AlertRule],
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
    response=Envelope[Alert],
    summary="Send a test notification on the rule's channels (a synthetic alert marked test; nothing stored)",
)
def test_rule(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().test(caller, id)}
