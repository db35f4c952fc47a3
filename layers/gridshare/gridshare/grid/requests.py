"""The grid context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the grid api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator

from gridshare.grid.responses import NodeStatus
from gridshare.grid.service import MAX_NODE_DEVICES
from gridshare.grid.topology import NodeType
from gridshare.http.models import ApiModel, QueryModel, ResolutionRangeQuery, resolution_from_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gridshare.http.ranges import ROLLUP_MAX_DAYS

HISTORY_MAX_DAYS: dict[str, int] = ROLLUP_MAX_DAYS
"""The longest `to - from` of a history request per resolution (like the sites' energy)."""


Number = Annotated[float, Field(allow_inf_nan=False), AfterValidator(lambda value: round(value, 6) + 0.0)]
"""A finite number kept to 6 decimals (DynamoDB numbers cannot hold e.g. 5e-324)."""


DeviceId = Annotated[str, Field(min_length=1, max_length=64)]


class PlaneLocation(ApiModel):
    x: Number = Field(ge=-1e9, le=1e9)
    y: Number = Field(ge=-1e9, le=1e9)


class GeoLocation(ApiModel):
    lat: Number = Field(ge=-90, le=90)
    lon: Number = Field(ge=-180, le=180)


class NodeBody(ApiModel):
    """A node, whole (POST creates one, PUT replaces one's fields)."""

    name: str = Field(min_length=1, max_length=120)
    type: NodeType
    capacity_kw: Number = Field(ge=0.001, le=10_000_000)
    voltage_v: Number = Field(ge=1, le=1_000_000, description="nominal voltage")
    location: PlaneLocation | GeoLocation = Field(description='{"x", "y"} (a plane) or {"lat", "lon"}')
    device_ids: list[DeviceId] = Field(
        default_factory=list, max_length=MAX_NODE_DEVICES, description="existing devices: the node's meters"
    )

    @field_validator("device_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each device at most once")
        return value


class ConnectionBody(ApiModel):
    from_node_id: str = Field(min_length=1, max_length=64)
    to_node_id: str = Field(min_length=1, max_length=64)
    capacity_kw: Number = Field(ge=0.001, le=10_000_000)
    impedance_ohm: Number = Field(ge=0, le=1_000_000)


class NodesQuery(QueryModel):
    type: NodeType | None = None
    status: NodeStatus | None = Field(default=None, description="filters the page read: a page may be short")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class ConnectionsQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class HistoryQuery(ResolutionRangeQuery):
    """Defaults: `to` now, `from` 24 h before `to`; the span is bounded per resolution (HISTORY_MAX_DAYS)."""

    metric: Literal["generation", "load", "frequency", "voltage"]
    MAX_DAYS: ClassVar[Mapping[str, int]] = HISTORY_MAX_DAYS

    from_: str | None = resolution_from_param(HISTORY_MAX_DAYS)
    resolution: Literal["15m", "1h", "1d"] = "1h"
