"""The grid's graph: validation, flow estimate, node and edge status. Pure: no AWS, no clock.

**Graph rules.** A connection joins two distinct existing nodes (no self-loop); at most one connection
joins a pair of nodes, in either direction (``pair_key`` is the same for ``a->b`` and ``b->a``).

**Net power of a node** (kW, from its meters' latest fresh readings, :mod:`gridshare.grid.metrics`):
positive = the node injects power into the grid (generation, storage discharging), negative = it draws
power (load, storage charging). A node without a fresh reading counts as 0 and makes the flows that
depend on it ``partial``.

**Flow estimate** (a DC-free, lossless radial estimate). In each connected component one node is the
*slack* (the point that balances the component: the first by type in ``SLACK_PREFERENCE``, then by id);
it absorbs whatever the metered nodes do not balance. For a connection that is a *bridge* (removing it
splits the component), the side not holding the slack is the downstream side ``D`` and the power that
flows towards it is its net consumption ``-sum(net(D))``. The flow is reported in the connection's own
direction: positive = from ``fromNodeId`` to ``toNodeId``. On a radial (tree) feeder every connection
is a bridge, so power is conserved at every node but the slack: ``net(v) + inflow(v) = outflow(v)``.
A connection on a cycle (a meshed part) has no unique flow without impedance-based load-flow: its flow
is ``None`` with the note ``in_cycle``.

**Status.** A node is ``no_data`` without a fresh reading of any of its meters (or without meters),
``overloaded`` when its throughput ``|net|`` exceeds its capacity, else ``ok``. A connection is
``unknown`` without a flow, ``overloaded`` when ``|flow|`` exceeds its capacity, else ``ok``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "NODE_TYPES",
    "SLACK_PREFERENCE",
    "Edge",
    "EdgeProblem",
    "Flow",
    "FlowNote",
    "Node",
    "NodeStatus",
    "NodeType",
    "edge_problem",
    "edge_status",
    "estimate_flows",
    "node_status",
    "pair_key",
    "slack_nodes",
]

NodeType = Literal["generator", "substation", "transformer", "feeder", "load", "storage"]
NODE_TYPES: tuple[NodeType, ...] = ("generator", "substation", "transformer", "feeder", "load", "storage")
SLACK_PREFERENCE: tuple[NodeType, ...] = ("substation", "generator", "transformer", "storage", "feeder", "load")
NodeStatus = Literal["ok", "overloaded", "no_data"]
EdgeStatus = Literal["ok", "overloaded", "unknown"]
FlowNote = Literal["estimated", "partial", "in_cycle"]
EdgeProblem = Literal["self_loop", "missing_from", "missing_to", "duplicate"]


@dataclass(frozen=True)
class Node:
    id: str
    type: NodeType
    capacity_kw: float


@dataclass(frozen=True)
class Edge:
    id: str
    from_id: str
    to_id: str
    capacity_kw: float
    impedance_ohm: float


@dataclass(frozen=True)
class Flow:
    kw: float | None
    note: FlowNote


def pair_key(a: str, b: str) -> str:
    """The same key for a->b and b->a: one connection per pair of nodes."""
    first, second = sorted((a, b))
    return f"{first}|{second}"


def edge_problem(from_id: str, to_id: str, node_ids: Iterable[str], edges: Iterable[Edge]) -> EdgeProblem | None:
    """Why a connection from_id -> to_id cannot join the graph, or None if it can."""
    if from_id == to_id:
        return "self_loop"
    known = set(node_ids)
    if from_id not in known:
        return "missing_from"
    if to_id not in known:
        return "missing_to"
    key = pair_key(from_id, to_id)
    if any(pair_key(e.from_id, e.to_id) == key for e in edges):
        return "duplicate"
    return None


def node_status(net_kw: float | None, capacity_kw: float) -> NodeStatus:
    if net_kw is None:
        return "no_data"
    return "overloaded" if abs(net_kw) > capacity_kw else "ok"


def edge_status(flow: Flow, capacity_kw: float) -> EdgeStatus:
    if flow.kw is None:
        return "unknown"
    return "overloaded" if abs(flow.kw) > capacity_kw else "ok"


def _adjacency(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[str, list[tuple[str, str]]]:
    """node -> [(neighbour, edge id)]; edges whose endpoints are unknown are left out."""
    adjacent: dict[str, list[tuple[str, str]]] = {n.id: [] for n in nodes}
    for e in edges:
        if e.from_id in adjacent and e.to_id in adjacent and e.from_id != e.to_id:
            adjacent[e.from_id].append((e.to_id, e.id))
            adjacent[e.to_id].append((e.from_id, e.id))
    return adjacent


def _rank(node: Node) -> tuple[int, str]:
    return (SLACK_PREFERENCE.index(node.type), node.id)


def slack_nodes(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[str, str]:
    """node id -> the slack node of its connected component."""
    adjacent = _adjacency(nodes, edges)
    out: dict[str, str] = {}
    for start in sorted(nodes, key=_rank):  # the best-ranked unseen node is its component's slack
        if start.id in out:
            continue
        out[start.id] = start.id
        stack = [start.id]
        while stack:
            at = stack.pop()
            for neighbour, _ in adjacent[at]:
                if neighbour not in out:
                    out[neighbour] = start.id
                    stack.append(neighbour)
    return out


def estimate_flows(nodes: Sequence[Node], edges: Sequence[Edge], net_kw: Mapping[str, float | None]) -> dict[str, Flow]:
    """Edge id -> its flow estimate (see the module docstring). ``net_kw[node]`` None = no data (0 kW)."""
    adjacent = _adjacency(nodes, edges)
    by_id = {e.id: e for e in edges}
    slack = slack_nodes(nodes, edges)
    # Iterative DFS from each slack: discovery order, low-link (bridges), subtree sums of net and of no-data.
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    subtree: dict[str, float] = {}
    missing: dict[str, int] = {}
    parent_edge: dict[str, str] = {}
    flows: dict[str, Flow] = {}
    for root in sorted({s for s in slack.values()}):
        order[root] = low[root] = len(order)
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            at, index = stack.pop()
            if index == 0:
                value = net_kw.get(at)
                subtree[at] = value if value is not None else 0.0
                missing[at] = 0 if value is not None else 1
            if index < len(adjacent[at]):
                stack.append((at, index + 1))
                neighbour, edge_id = adjacent[at][index]
                if edge_id == parent_edge.get(at):
                    continue
                if neighbour in order:
                    low[at] = min(low[at], order[neighbour])
                else:
                    order[neighbour] = low[neighbour] = len(order)
                    parent_edge[neighbour] = edge_id
                    stack.append((neighbour, 0))
                continue
            # `at` is finished: fold it into its parent
            edge_id = parent_edge.get(at, "")
            if not edge_id:
                continue
            edge = by_id[edge_id]
            up = edge.from_id if edge.to_id == at else edge.to_id
            low[up] = min(low[up], low[at])
            subtree[up] += subtree[at]
            missing[up] += missing[at]
            if low[at] > order[up]:  # a bridge: `at`'s subtree is the downstream side
                towards_child = -subtree[at]  # its net consumption flows from `up` to `at`
                kw = towards_child if edge.to_id == at else -towards_child
                flows[edge_id] = Flow(kw=_tidy(kw), note="partial" if missing[at] else "estimated")
    for e in edges:
        flows.setdefault(e.id, Flow(kw=None, note="in_cycle"))
    return flows


def _tidy(kw: float) -> float:
    rounded = round(kw, 6)
    return 0.0 if rounded == 0 else rounded
