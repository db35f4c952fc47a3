"""Grid routes: the topology (nodes, connections), its live view, realtime and historical metrics.

Operators and admins manage and read the grid; every other role is refused (403) on every route, reads
included: the grid's layout and live loads are operational data (docs/decisions/0015-grid.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator

from gridshare.grid.responses import GridConnection, GridHistory, GridNode, NodeStatus, RealtimeMetrics, Topology
from gridshare.grid.service import MAX_NODE_DEVICES, GridService, grid_service
from gridshare.grid.topology import NodeType
from gridshare.http.api import ApiBlueprint
from gridshare.http.models import ApiModel, QueryModel, ResolutionRangeQuery, resolution_from_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.ranges import ROLLUP_MAX_DAYS
from gridshare.http.responses import NO_CONTENT, Envelope, Page
from gridshare.kernel.roles import Caller

api = ApiBlueprint("grid")

OPERATORS: frozenset[str] = frozenset({"admin", "operator"})
"""Who manages and reads the grid."""

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


def service() -> GridService:
    return grid_service()


def _node_fields(body: NodeBody) -> dict[str, object]:
    return {
        "name": body.name,
        "type": body.type,
        "capacity_kw": body.capacity_kw,
        "voltage_v": body.voltage_v,
        "location": body.location.model_dump(mode="json"),
        "device_ids": list(body.device_ids),
    }


@api.route(
    "/v1/grid/nodes",
    "POST",
    roles=OPERATORS,
    body=NodeBody,
    status=201,
    response=Envelope[GridNode],
    errors=(409, 503),  # the grid holds MAX_NODES nodes; the meters' latest readings took too long to read
    summary="Add a node to the grid (its meters must be existing devices)",
)
def create_node(caller: Caller, body: NodeBody) -> dict:
    return {"data": service().create_node(caller, _node_fields(body))}


@api.route(
    "/v1/grid/nodes",
    "GET",
    roles=OPERATORS,
    query=NodesQuery,
    response=Page[GridNode],
    errors=(503,),  # the meters' latest readings take longer to read than the request's deadline
    summary="The grid's nodes with their live status, optionally of one type or status",
)
def list_nodes(caller: Caller, query: NodesQuery) -> dict:
    items, cursor = service().list_nodes(query.type, query.status, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/grid/nodes/{id}",
    "GET",
    roles=OPERATORS,
    response=Envelope[GridNode],
    errors=(503,),
    summary="A grid node with its live status",
)
def get_node(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get_node(id)}


@api.route(
    "/v1/grid/nodes/{id}",
    "PUT",
    roles=OPERATORS,
    body=NodeBody,
    response=Envelope[GridNode],
    errors=(503,),  # the meters' latest readings (for its live status) took too long to read
    summary="Replace a grid node's fields (its connections stay)",
)
def replace_node(caller: Caller, id: str, body: NodeBody) -> dict:  # noqa: A002
    return {"data": service().replace_node(caller, id, _node_fields(body))}


@api.route(
    "/v1/grid/nodes/{id}",
    "DELETE",
    roles=OPERATORS,
    status=204,
    response=NO_CONTENT,
    errors=(409,),  # the node has connections
    summary="Delete a grid node without connections",
)
def delete_node(caller: Caller, id: str) -> None:  # noqa: A002
    service().delete_node(id)


@api.route(
    "/v1/grid/connections",
    "POST",
    roles=OPERATORS,
    body=ConnectionBody,
    status=201,
    response=Envelope[GridConnection],
    errors=(409,),  # the nodes are connected already (either direction), or the grid holds MAX_CONNECTIONS
    summary="Connect two existing nodes (no self-loop, one connection per pair of nodes)",
)
def create_connection(caller: Caller, body: ConnectionBody) -> dict:
    fields = {
        "from_node_id": body.from_node_id,
        "to_node_id": body.to_node_id,
        "capacity_kw": body.capacity_kw,
        "impedance_ohm": body.impedance_ohm,
    }
    return {"data": service().create_connection(fields)}


@api.route(
    "/v1/grid/connections",
    "GET",
    roles=OPERATORS,
    query=ConnectionsQuery,
    response=Page[GridConnection],
    summary="The grid's connections",
)
def list_connections(caller: Caller, query: ConnectionsQuery) -> dict:
    items, cursor = service().list_connections(query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/grid/connections/{id}",
    "DELETE",
    roles=OPERATORS,
    status=204,
    response=NO_CONTENT,
    summary="Delete a grid connection",
)
def delete_connection(caller: Caller, id: str) -> None:  # noqa: A002
    service().delete_connection(id)


@api.route(
    "/v1/grid/topology",
    "GET",
    roles=OPERATORS,
    response=Envelope[Topology],
    errors=(503,),
    summary="Every node and connection with live load, flow estimate and status",
)
def topology(caller: Caller) -> dict:
    return {"data": service().topology()}


@api.route(
    "/v1/grid/metrics/realtime",
    "GET",
    roles=OPERATORS,
    response=Envelope[RealtimeMetrics],
    errors=(503,),
    summary="Generation, load, frequency, voltage, power factor, losses, CO2 intensity from the latest readings",
)
def realtime(caller: Caller) -> dict:
    return {"data": service().realtime()}


@api.route(
    "/v1/grid/history",
    "GET",
    roles=OPERATORS,
    query=HistoryQuery,
    response=Envelope[GridHistory],
    errors=(503,),  # the meters' rollups take longer to read than the request's deadline
    summary="A grid metric per interval from the meters' rollups",
)
def history(caller: Caller, query: HistoryQuery) -> dict:
    window = query.window()
    return {"data": service().history(query.metric, window.start, window.end, query.resolution)}
