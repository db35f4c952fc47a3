"""The settlement context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the settlement api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from pydantic import Field

from gridshare.http.models import ApiModel, QueryModel
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT

TIME_HELP = "ISO 8601 UTC, on a 15-minute boundary"


class RunBody(ApiModel):
    from_: str = Field(
        alias="from", min_length=1, max_length=40, description=TIME_HELP, examples=["2026-12-03T10:00:00Z"]
    )
    to: str = Field(
        min_length=1, max_length=40, description=TIME_HELP + "; not after now", examples=["2026-12-03T11:00:00Z"]
    )


class RunsQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
