"""The telemetry context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the telemetry api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field

from gridshare.http.models import QueryModel, ResolutionRangeQuery, resolution_from_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_HISTORY_LIMIT, MAX_LIMIT
from gridshare.telemetry.service import HISTORY_MAX_DAYS


class HistoryQuery(ResolutionRangeQuery):
    """Defaults: `to` now, `from` 24 h before `to`; the span is bounded per resolution (HISTORY_MAX_DAYS)."""

    MAX_DAYS: ClassVar[Mapping[str, int]] = HISTORY_MAX_DAYS

    from_: str | None = resolution_from_param(HISTORY_MAX_DAYS)
    metric: str = Field(min_length=1, max_length=64)
    resolution: Literal["raw", "15m", "1h", "1d"] = "raw"
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_HISTORY_LIMIT)
    cursor: str | None = None


class DeadLetterQuery(QueryModel):
    status: Literal["open", "replayed"] = "open"
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
