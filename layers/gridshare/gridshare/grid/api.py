"""Grid routes: the topology (nodes, connections), its live view, realtime and historical metrics.

Operators and admins manage and read the grid; every other role is refused (403) on every route, reads
included: the grid's layout and live loads are operational data (docs/decisions/0015-grid.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.grid.service import GridService, grid_service
from gridshare.http.api import ApiBlueprint
from gridshare.http.no_content import NO_CONTENT
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.grid.requests import ConnectionBody, ConnectionsQuery, HistoryQuery, NodeBody, NodesQuery

api = ApiBlueprint("grid")

OPERATORS: frozenset[str] = frozenset({"admin", "operator"})
"""Who manages and reads the grid."""


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
    body="NodeBody",
    status=201,
    response="Envelope[GridNode]",
    errors=(409, 503),  # the grid holds MAX_NODES nodes; the meters' latest readings took too long to read
    summary="Add a node to the grid (its meters must be existing devices)",
)
def create_node(caller: Caller, body: NodeBody) -> dict:
    return {"data": service().create_node(caller, _node_fields(body))}


@api.route(
    "/v1/grid/nodes",
    "GET",
    roles=OPERATORS,
    query="NodesQuery",
    response="Page[GridNode]",
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
    response="Envelope[GridNode]",
    errors=(503,),
    summary="A grid node with its live status",
)
def get_node(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get_node(id)}


@api.route(
    "/v1/grid/nodes/{id}",
    "PUT",
    roles=OPERATORS,
    body="NodeBody",
    response="Envelope[GridNode]",
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
    body="ConnectionBody",
    status=201,
    response="Envelope[GridConnection]",
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
    query="ConnectionsQuery",
    response="Page[GridConnection]",
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
    response="Envelope[Topology]",
    errors=(503,),
    summary="Every node and connection with live load, flow estimate and status",
)
def topology(caller: Caller) -> dict:
    return {"data": service().topology()}


@api.route(
    "/v1/grid/metrics/realtime",
    "GET",
    roles=OPERATORS,
    response="Envelope[RealtimeMetrics]",
    errors=(503,),
    summary="Generation, load, frequency, voltage, power factor, losses, CO2 intensity from the latest readings",
)
def realtime(caller: Caller) -> dict:
    return {"data": service().realtime()}


@api.route(
    "/v1/grid/history",
    "GET",
    roles=OPERATORS,
    query="HistoryQuery",
    response="Envelope[GridHistory]",
    errors=(503,),  # the meters' rollups take longer to read than the request's deadline
    summary="A grid metric per interval from the meters' rollups",
)
def history(caller: Caller, query: HistoryQuery) -> dict:
    window = query.window()
    return {"data": service().history(query.metric, window.start, window.end, query.resolution)}
