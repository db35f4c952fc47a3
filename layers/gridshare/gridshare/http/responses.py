"""Response models: the body a route answers with a 2xx, declared next to the route (`response=`).

A route declares its 2xx body as a pydantic model; the OpenAPI document describes it from the model, and
the integration tests validate every 2xx body the suites receive against it (tests/support/api.py), so a
model cannot drift from what the view returns. The models describe, they are never used to build a
response: views keep returning plain dicts.

- `Envelope[Item]`: a single object, `{"data": {...}}`;
- `Page[Item]`: a list built by `gridshare.http.pagination.page`, `{"data": [...], "pagination": {...}}`
  (subclass it to add e.g. `meta`);
- a model of its own for a raw shape (`/health`);
- `NO_CONTENT` for a 204.

Field names are snake_case with camelCase aliases (as in request models); unknown fields are refused
(`additionalProperties: false`), so a field a view adds without declaring it fails the tests. A field that
is always present but may be null is `X | None` without a default; a field that is sometimes left out is
`Absent[X]` with `= absent(...)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from gridshare.http.no_content import NO_CONTENT, NoContent

__all__ = [
    "NO_CONTENT",
    "Absent",
    "Envelope",
    "NoContent",
    "Page",
    "Pagination",
    "ResponseModel",
    "Timestamp",
    "absent",
]

T = TypeVar("T")

Timestamp = Annotated[datetime, Field(description="ISO 8601 UTC, millisecond precision")]
Absent = Annotated[T | SkipJsonSchema[None], Field()]
"""A field that is left out of some answers (never null when present): `Absent[str] = absent("...")`."""


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str) -> Any:
    """The default of an `Absent[...]` field: not required, no `default: null` in the document."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


class ResponseModel(BaseModel):
    """Base of response models: camelCase at the edge (only: a body in snake_case does not validate), every
    field declared."""

    # built on first use (the OpenAPI document, contract tests): not on a Lambda's cold start
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, defer_build=True)


class Envelope(ResponseModel, Generic[T]):
    """A single object: `{"data": {...}}`."""

    data: T


class Pagination(ResponseModel):
    limit: int = Field(ge=1, description="the page size asked for (or the default)")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class Page(ResponseModel, Generic[T]):
    """A list (gridshare.http.pagination.page): `{"data": [...], "pagination": {"limit", "nextCursor"}}`."""

    data: list[T]
    pagination: Pagination
