"""Grid use cases: the topology (nodes, connections), its live view, realtime and historical metrics.

Who: operators and admins manage and read the grid (the API declares it: docs/grid.md); every other role
is refused (403) by the route. The grid is one per deployment: nodes and connections are not anyone's.

Other contexts are reached through their services only: devices (a node's meters must exist; operators
and admins may name any device) and telemetry (the meters' latest readings, their rollups). The graph
rules and the flow estimate are :mod:`gridshare.grid.topology`, the arithmetic :mod:`gridshare.grid.metrics`.

Bounds: at most ``MAX_NODES`` nodes and ``MAX_CONNECTIONS`` connections per grid, ``MAX_NODE_DEVICES``
meters per node; the latest readings are read in BatchGetItem chunks of 100 within the request's
deadline (then 503); the history reads each meter's rollups over a span bounded per resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gridshare.grid import metrics as M
from gridshare.grid import topology as T
from gridshare.grid.models import GridConnectionModel, GridNodeModel
from gridshare.grid.store import GridStore
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.deadline import request_deadline
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.kernel.roles import Caller
from gridshare.kernel.settings import get_settings

if TYPE_CHECKING:
    from gridshare.devices.service import DeviceService
    from gridshare.telemetry.service import TelemetryService


# Other contexts' services are imported when a request first needs them: the topology routes load neither
# devices nor telemetry (nor what they import) on a cold start.
def _devices() -> type[DeviceService]:
    from gridshare.devices.service import DeviceService

    return DeviceService


def telemetry_service() -> TelemetryService:
    """The telemetry context's service (gridshare.telemetry.service.telemetry_service)."""
    from gridshare.telemetry.service import telemetry_service as factory

    return factory()


__all__ = ["MAX_CONNECTIONS", "MAX_NODES", "MAX_NODE_DEVICES", "GridService", "grid_service"]

MAX_NODES = 2_000
MAX_CONNECTIONS = 4_000
MAX_NODE_DEVICES = 50
Flows = dict[str, T.Flow]
RESOLUTION_MS = {"15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}


def _number(value: Any) -> float | int:
    number = float(value)
    return int(number) if number.is_integer() else number


def _kw(value: float | None) -> float | int | None:
    return None if value is None else _number(round(value, 6))


def node_view(node: GridNodeModel) -> dict[str, Any]:
    return {
        "id": node.id,
        "name": node.name,
        "type": node.type,
        "capacityKw": _number(node.capacity_kw),
        "voltageV": _number(node.voltage_v),
        "location": node.location,
        "deviceIds": list(node.device_ids or []),
        "connections": int(node.degree or 0),
        "createdAt": to_iso(int(node.created_at)),
        "updatedAt": to_iso(int(node.updated_at)),
    }


def connection_view(item: GridConnectionModel) -> dict[str, Any]:
    return {
        "id": item.id,
        "fromNodeId": item.from_node_id,
        "toNodeId": item.to_node_id,
        "capacityKw": _number(item.capacity_kw),
        "impedanceOhm": _number(item.impedance_ohm),
        "createdAt": to_iso(int(item.created_at or 0)),
    }


def _domain_node(node: GridNodeModel) -> T.Node:
    return T.Node(id=node.id, type=node.type, capacity_kw=float(node.capacity_kw))  # type: ignore[arg-type]


def _domain_edge(item: GridConnectionModel) -> T.Edge:
    return T.Edge(
        id=item.id,
        from_id=str(item.from_node_id),
        to_id=str(item.to_node_id),
        capacity_kw=float(item.capacity_kw or 0),
        impedance_ohm=float(item.impedance_ohm or 0),
    )


@dataclass
class GridService:
    store: GridStore = field(default_factory=GridStore)
    telemetry: Callable[[], TelemetryService] = telemetry_service
    clock: Callable[[], int] = now_ms

    # ------------------------------------------------------------ nodes
    def _check_devices(self, caller: Caller, device_ids: list[str]) -> None:
        for index, device_id in enumerate(device_ids):
            try:
                _devices().get_owned(caller, device_id)
            except errors.NotFound:
                raise errors.InvalidInput(
                    "A node's meters must be existing devices.",
                    errors=[errors.FieldError(f"deviceIds[{index}]", "no such device")],
                ) from None

    def create_node(self, caller: Caller, fields: dict[str, Any]) -> dict[str, Any]:
        self._check_devices(caller, fields["device_ids"])
        if self.store.node_count() >= MAX_NODES:
            raise errors.Conflict(f"The grid has {MAX_NODES} nodes, the most it may hold.")
        at = self.clock()
        node = GridNodeModel(id=new_id(), degree=0, created_at=at, updated_at=at, **fields)
        self.store.put_new_node(node)
        return self._with_status(node_view(node), node)

    def get_node(self, node_id: str) -> dict[str, Any]:
        node = self.store.node(node_id)
        return self._with_status(node_view(node), node)

    def replace_node(self, caller: Caller, node_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        node = self.store.node(node_id)
        self._check_devices(caller, fields["device_ids"])
        node = self.store.replace_node(node, fields, self.clock())
        return self._with_status(node_view(node), node)

    def delete_node(self, node_id: str) -> None:
        self.store.delete_node(node_id)

    def list_nodes(
        self, node_type: str | None, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of nodes (type filtered in DynamoDB). A status filter applies to the page read, so a
        page may hold fewer than `limit` nodes while a next cursor remains: follow it."""
        nodes, last = self.store.nodes_page(node_type, limit, decode_cursor(cursor))
        powers = self._powers(nodes)
        views = [self._with_status(node_view(n), n, powers) for n in nodes]
        if status is not None:
            views = [v for v in views if v["status"] == status]
        return views, encode_cursor(last)

    def _with_status(
        self, view: dict[str, Any], node: GridNodeModel, powers: dict[str, M.NodePower] | None = None
    ) -> dict[str, Any]:
        power = (powers if powers is not None else self._powers([node])).get(node.id)
        net = power.net_kw if power is not None else None
        view["status"] = T.node_status(net, float(node.capacity_kw))
        view["liveLoadKw"] = _kw(abs(net)) if net is not None else None
        view["netPowerKw"] = _kw(net)
        return view

    def _powers(self, nodes: Iterable[GridNodeModel]) -> dict[str, M.NodePower]:
        """node id -> its power from its meters' latest readings (one batched read for all the nodes)."""
        nodes = list(nodes)
        device_ids = [d for n in nodes for d in (n.device_ids or [])]
        latest = self.telemetry().latest_readings(device_ids, deadline=request_deadline()) if device_ids else {}
        now = self.clock()
        out: dict[str, M.NodePower] = {}
        for node in nodes:
            readings = [
                M.Reading(device_id=d, ts=int(latest[d]["ts"]), metrics=latest[d]["metrics"])
                for d in (node.device_ids or [])
                if d in latest
            ]
            out[node.id] = M.node_power(readings, now)
        return out

    # ------------------------------------------------------------ connections
    def create_connection(self, fields: dict[str, Any]) -> dict[str, Any]:
        problem = T.edge_problem(fields["from_node_id"], fields["to_node_id"], (fields["from_node_id"],), ())
        if problem == "self_loop":
            raise errors.InvalidInput(
                "A connection joins two different nodes.",
                errors=[errors.FieldError("toNodeId", "the same node as fromNodeId")],
            )
        for name, node_id in (("fromNodeId", fields["from_node_id"]), ("toNodeId", fields["to_node_id"])):
            if not self.store.node_exists(node_id):
                raise errors.InvalidInput(
                    "The connection's endpoints must be existing nodes.",
                    errors=[errors.FieldError(name, "no such grid node")],
                )
        if len(self.store.all_connections()) >= MAX_CONNECTIONS:
            raise errors.Conflict(f"The grid has {MAX_CONNECTIONS} connections, the most it may hold.")
        item = GridConnectionModel(id=new_id(), kind="connection", created_at=self.clock(), **fields)
        self.store.add_connection(item)  # the endpoints and the pair are checked again, atomically
        return connection_view(item)

    def list_connections(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        items, last = self.store.connections_page(limit, decode_cursor(cursor))
        return [connection_view(c) for c in items], encode_cursor(last)

    def get_connection(self, connection_id: str) -> dict[str, Any]:
        return connection_view(self.store.connection(connection_id))

    def delete_connection(self, connection_id: str) -> None:
        self.store.delete_connection(connection_id)

    # ------------------------------------------------------------ live views
    def _graph(self) -> tuple[list[GridNodeModel], list[GridConnectionModel], dict[str, M.NodePower], Flows]:
        nodes = self.store.all_nodes()
        connections = self.store.all_connections()
        powers = self._powers(nodes)
        flows = T.estimate_flows(
            [_domain_node(n) for n in nodes],
            [_domain_edge(c) for c in connections],
            {n.id: powers[n.id].net_kw for n in nodes},
        )
        return nodes, connections, powers, flows

    def topology(self) -> dict[str, Any]:
        nodes, connections, powers, flows = self._graph()
        slack = T.slack_nodes([_domain_node(n) for n in nodes], [_domain_edge(c) for c in connections])
        node_views = []
        for node in nodes:
            view = self._with_status(node_view(node), node, powers)
            view["slack"] = slack.get(node.id) == node.id
            node_views.append(view)
        edge_views = []
        for item in connections:
            flow = flows[item.id]
            edge_views.append(
                {
                    **connection_view(item),
                    "flowKw": _kw(flow.kw),
                    "flowNote": flow.note,
                    "status": T.edge_status(flow, float(item.capacity_kw or 0)),
                }
            )
        return {"nodes": node_views, "edges": edge_views, "at": to_iso(self.clock())}

    def realtime(self) -> dict[str, Any]:
        nodes, connections, powers, flows = self._graph()
        result = M.realtime(
            [_domain_node(n) for n in nodes],
            powers,
            [_domain_edge(c) for c in connections],
            flows,
            {n.id: float(n.voltage_v) for n in nodes},
            get_settings().grid_intensity_g_per_kwh,
        )
        return {
            "timestamp": to_iso(self.clock()),
            "oldestReadingAt": to_iso(result.oldest_reading_at) if result.oldest_reading_at is not None else None,
            "totalGenerationKw": _kw(result.total_generation_kw),
            "totalLoadKw": _kw(result.total_load_kw),
            "frequencyHz": result.frequency_hz,
            "voltageV": result.voltage_v,
            "powerFactor": result.power_factor,
            "lossesKw": _kw(result.losses_kw),
            "co2IntensityGPerKwh": result.co2_intensity_g_per_kwh,
            "nodes": len(nodes),
            "nodesReporting": result.nodes_reporting,
            "metersReporting": result.meters_reporting,
        }

    def history(self, metric: str, start: int, end: int, resolution: str) -> dict[str, Any]:
        device_ids = sorted({d for n in self.store.all_nodes() for d in (n.device_ids or [])})
        deadline = request_deadline()
        buckets: list[M.Bucket] = []
        telemetry = self.telemetry()
        for device_id in device_ids:
            for row in telemetry.rollup_buckets(device_id, resolution, start, end, deadline=deadline):
                buckets.append(
                    M.Bucket(start=row["bucket"], sums=row["sums"], counts=row["counts"], energy=row["energy"])
                )
        points = M.history_points(metric, buckets, RESOLUTION_MS[resolution])  # type: ignore[arg-type]
        return {
            "metric": metric,
            "unit": M.HISTORY_UNITS[metric],
            "resolution": resolution,
            "from": to_iso(start),
            "to": to_iso(end),
            "meters": len(device_ids),
            "points": [{"ts": to_iso(ts), "value": value, "meters": n} for ts, value, n in points],
        }


grid_service = ServiceFactory(GridService)
