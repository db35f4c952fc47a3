"""The pydantic bases of request models: bodies (`ApiModel`), queries (`QueryModel`) and time ranges
(`TimeRangeQuery`, `RangeQuery`, `ResolutionRangeQuery`: the rules of gridshare.http.ranges).

Imported with a context's request models (`<context>/requests.py`), which a route resolves the first
time it parses a body or a query: a route with neither never imports pydantic (gridshare.http.api).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from gridshare.http.ranges import EARLIEST, RangeRules, ResolutionRangeRules, check_time
from gridshare.kernel.clock import TIME_PATTERN, parse_time


class ApiModel(BaseModel):
    """Base of request models: camelCase at the edge, unknown fields refused.

    Every model here defers building its validator to its first use (`defer_build`): a Lambda builds
    only the models of the requests it answers, not all of its context's at import (a cold start cost
    of ~1 ms per model; validation itself is unchanged)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, defer_build=True
    )

    def attributes(self, only_set: bool = False) -> dict[str, Any]:
        """The body as a service takes it: snake_case names, nested models as plain JSON (camelCase);
        `only_set` keeps just the fields the request sent (a PATCH)."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set if only_set else type(self).model_fields:
            value = getattr(self, name)
            out[name] = value.model_dump(mode="json", by_alias=True) if isinstance(value, ApiModel) else value
        return out


class QueryModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, defer_build=True
    )


class TimeRangeQuery(QueryModel):
    """`from`/`to` as ISO 8601 or epoch milliseconds (UTC); each route documents its defaults."""

    from_: str | None = Field(
        default=None, alias="from", pattern=TIME_PATTERN, description="ISO 8601 or epoch ms (inclusive)"
    )
    to: str | None = Field(
        default=None, pattern=TIME_PATTERN, description="ISO 8601 or epoch ms (exclusive); default now"
    )

    @field_validator("from_", "to")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)
        return value


def from_param(rule: str) -> Any:
    return Field(
        default=None,
        alias="from",
        pattern=TIME_PATTERN,
        description=f"ISO 8601 or epoch ms (inclusive), not before {EARLIEST} nor more than 24 h after now; {rule}",
    )


def to_param(rule: str = "default now") -> Any:
    return Field(
        default=None,
        pattern=TIME_PATTERN,
        description=f"ISO 8601 or epoch ms (exclusive), not before {EARLIEST} nor more than 24 h after now; {rule}",
    )


class RangeQuery(TimeRangeQuery, RangeRules):
    """`from`/`to` in sane bounds (checked while parsing) and the route's span rules (`window`, `bounds`:
    gridshare.http.ranges.RangeRules)."""

    from_: str | None = from_param("at most the route's span before `to`")
    to: str | None = to_param()

    @field_validator("from_", "to")
    @classmethod
    def _sane(cls, value: str | None) -> str | None:
        if value is not None:
            check_time(value)
        return value


def resolution_from_param(max_days: Mapping[str, int]) -> Any:
    """`from` of a ResolutionRangeQuery, its description naming each resolution's longest span."""
    spans = ", ".join(f"{days} days for {resolution}" for resolution, days in max_days.items())
    return from_param(f"default 24 h before `to`; at most {spans} before `to`")


class ResolutionRangeQuery(RangeQuery, ResolutionRangeRules):
    """A closed range (defaults: `to` now, `from` 24 h before it) whose longest span depends on the
    `resolution` a subclass declares: MAX_DAYS maps each resolution to its maximum in days, and the
    subclass gives `from_ = resolution_from_param(MAX_DAYS)` so the OpenAPI document states them (the class
    variables DEFAULT_SPAN_DAYS, MAX_SPAN_DAYS and MAX_DAYS, and their defaults, are gridshare.http.ranges')."""
