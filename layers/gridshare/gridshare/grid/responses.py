"""The grid's response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridshare.grid.topology import NodeType
from gridshare.http.responses import ResponseModel, Timestamp

NodeStatus = Literal["ok", "overloaded", "no_data"]
EdgeStatus = Literal["ok", "overloaded", "unknown"]
FlowNote = Literal["estimated", "partial", "in_cycle"]
HistoryMetricName = Literal["generation", "load", "frequency", "voltage"]


class PlaneOut(ResponseModel):
    x: float
    y: float


class GeoOut(ResponseModel):
    lat: float
    lon: float


class GridNode(ResponseModel):
    """A node with its live status (grid.service.node_view + status)."""

    id: str
    name: str
    type: NodeType
    capacity_kw: int | float
    voltage_v: int | float = Field(description="nominal voltage")
    location: PlaneOut | GeoOut
    device_ids: list[str] = Field(description="the meters that measure the node")
    connections: int = Field(description="how many connections the node has (a node with any cannot be deleted)")
    status: NodeStatus = Field(
        description="no_data: no fresh reading (none within 15 min) of its meters; overloaded: |net| > capacity"
    )
    live_load_kw: int | float | None = Field(description="|net power| through the node; null without data")
    net_power_kw: int | float | None = Field(description="positive = injects into the grid, negative = draws")
    created_at: Timestamp
    updated_at: Timestamp


class TopologyNode(GridNode):
    slack: bool = Field(description="the node that balances its connected part (docs/grid.md, flow estimate)")


class GridConnection(ResponseModel):
    id: str
    from_node_id: str
    to_node_id: str
    capacity_kw: int | float
    impedance_ohm: int | float
    created_at: Timestamp


class TopologyEdge(GridConnection):
    flow_kw: int | float | None = Field(
        description="estimated flow, positive = from fromNodeId to toNodeId; null on a cycle (docs/grid.md)"
    )
    flow_note: FlowNote = Field(description="estimated | partial (a node downstream has no data) | in_cycle")
    status: EdgeStatus = Field(description="overloaded: |flow| > capacity; unknown: no flow estimate")


class Topology(ResponseModel):
    nodes: list[TopologyNode]
    edges: list[TopologyEdge]
    at: Timestamp = Field(description="when the live figures were computed")


class RealtimeMetrics(ResponseModel):
    """Aggregates of the metered nodes' latest fresh readings (docs/grid.md for each formula)."""

    timestamp: Timestamp
    oldest_reading_at: Timestamp | None = Field(description="the oldest reading used; null when none was")
    total_generation_kw: int | float
    total_load_kw: int | float
    frequency_hz: float | None
    voltage_v: float | None
    power_factor: float | None
    losses_kw: int | float = Field(description="sum of I^2 R over connections with a flow estimate")
    co2_intensity_g_per_kwh: float | None
    nodes: int
    nodes_reporting: int
    meters_reporting: int


class HistoryPoint(ResponseModel):
    ts: Timestamp = Field(description="the bucket's start")
    value: float
    meters: int = Field(description="how many meters reported the metric in the bucket")


class GridHistory(ResponseModel):
    metric: HistoryMetricName
    unit: str
    resolution: Literal["15m", "1h", "1d"]
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    meters: int
    points: list[HistoryPoint]
