"""The alerts context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the alerts api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StrictInt, model_validator

from gridshare.alerts.responses import AlertStatus, Channel, Kind, Operator, Severity
from gridshare.alerts.rules import MAX_FOR_S
from gridshare.http.models import ApiModel, QueryModel
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT


class AlertsQuery(QueryModel):
    status: AlertStatus | None = None
    severity: Severity | None = None
    device_id: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class AcknowledgeBody(ApiModel):
    note: str | None = Field(default=None, max_length=1000)


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
