"""The grid's graph (gridshare.grid.topology): edge rules, flow estimate, status."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.grid.topology import (
    Edge,
    Flow,
    Node,
    edge_problem,
    edge_status,
    estimate_flows,
    node_status,
    pair_key,
    slack_nodes,
)


def _node(node_id: str, node_type: str = "load", capacity: float = 100.0) -> Node:
    return Node(id=node_id, type=node_type, capacity_kw=capacity)  # type: ignore[arg-type]


def _edge(edge_id: str, a: str, b: str, capacity: float = 100.0, ohm: float = 0.1) -> Edge:
    return Edge(id=edge_id, from_id=a, to_id=b, capacity_kw=capacity, impedance_ohm=ohm)


def test_edge_rules() -> None:
    nodes = ["a", "b", "c"]
    edges = [_edge("e1", "a", "b")]
    assert edge_problem("a", "a", nodes, edges) == "self_loop"
    assert edge_problem("x", "a", nodes, edges) == "missing_from"
    assert edge_problem("a", "x", nodes, edges) == "missing_to"
    assert edge_problem("a", "b", nodes, edges) == "duplicate"
    assert edge_problem("b", "a", nodes, edges) == "duplicate"  # either direction
    assert edge_problem("b", "c", nodes, edges) is None


@given(st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8))
def test_a_pair_has_one_key_in_either_direction_and_a_duplicate_is_always_refused(a: str, b: str) -> None:
    assert pair_key(a, b) == pair_key(b, a)
    if a != b:
        assert edge_problem(b, a, [a, b], [_edge("e", a, b)]) == "duplicate"
        assert edge_problem(a, b, [a, b], [_edge("e", a, b)]) == "duplicate"


def test_a_five_node_feeder() -> None:
    # substation -> transformer -> feeder -> {load, generator}
    nodes = [_node("s", "substation", 1000), _node("t", "transformer"), _node("f", "feeder")]
    nodes += [_node("l"), _node("g", "generator")]
    edges = [_edge("st", "s", "t"), _edge("tf", "t", "f"), _edge("fl", "f", "l"), _edge("gf", "g", "f")]
    net = {"s": None, "t": None, "f": None, "l": -30.0, "g": 10.0}
    flows = estimate_flows(nodes, edges, net)
    assert flows["fl"] == Flow(30.0, "estimated")  # 30 kW into the load
    assert flows["gf"] == Flow(10.0, "estimated")  # the generator's 10 kW, in the edge's direction g -> f
    assert flows["tf"].kw == 20.0 and flows["tf"].note == "partial"  # f has no meter of its own
    assert flows["st"].kw == 20.0
    assert slack_nodes(nodes, edges)["l"] == "s"


def test_edges_on_a_cycle_have_no_flow_and_bridges_keep_theirs() -> None:
    nodes = [_node("s", "substation"), _node("a"), _node("b"), _node("c")]
    edges = [_edge("sa", "s", "a"), _edge("ab", "a", "b"), _edge("bs", "b", "s"), _edge("bc", "b", "c")]
    flows = estimate_flows(nodes, edges, {"s": 0.0, "a": -1.0, "b": -2.0, "c": -5.0})
    cyclic = {k: f.note for k, f in flows.items() if f.kw is None}
    assert cyclic == {"sa": "in_cycle", "ab": "in_cycle", "bs": "in_cycle"}
    assert flows["bc"] == Flow(5.0, "estimated")


def test_status() -> None:
    assert node_status(None, 10) == "no_data"
    assert node_status(-11, 10) == "overloaded"
    assert node_status(9.5, 10) == "ok"
    assert edge_status(Flow(None, "in_cycle"), 10) == "unknown"
    assert edge_status(Flow(-12, "estimated"), 10) == "overloaded"


@st.composite
def radial_trees(draw: st.DrawFn) -> tuple[list[Node], list[Edge], dict[str, float | None]]:
    size = draw(st.integers(min_value=1, max_value=25))
    types = st.sampled_from(["generator", "substation", "transformer", "feeder", "load", "storage"])
    nodes = [_node(f"n{i}", draw(types)) for i in range(size)]
    edges = []
    for i in range(1, size):
        parent = draw(st.integers(min_value=0, max_value=i - 1))
        a, b = (f"n{parent}", f"n{i}") if draw(st.booleans()) else (f"n{i}", f"n{parent}")
        edges.append(_edge(f"e{i}", a, b))
    power = st.one_of(st.none(), st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda x: round(x, 3)))
    net = {n.id: draw(power) for n in nodes}
    return nodes, edges, net


@given(radial_trees())
def test_flows_on_a_radial_tree_conserve_power_at_every_node_but_the_slack(
    tree: tuple[list[Node], list[Edge], dict[str, float | None]],
) -> None:
    nodes, edges, net = tree
    flows = estimate_flows(nodes, edges, net)
    assert all(f.kw is not None for f in flows.values())  # a tree has no cycle
    slack = slack_nodes(nodes, edges)
    for node in nodes:
        inflow = sum(flows[e.id].kw or 0 for e in edges if e.to_id == node.id) - sum(
            flows[e.id].kw or 0 for e in edges if e.from_id == node.id
        )
        own = net[node.id] or 0.0
        if slack[node.id] != node.id:
            assert own + inflow == pytest.approx(0, abs=1e-3)
        else:  # the slack supplies what the rest of the tree does not balance
            others = sum(net[n.id] or 0.0 for n in nodes if n.id != node.id)
            assert inflow == pytest.approx(others, abs=1e-3)  # outflow = the rest's net consumption


@given(radial_trees(), st.data())
def test_closing_a_loop_makes_its_edges_in_cycle(
    tree: tuple[list[Node], list[Edge], dict[str, float | None]], data: st.DataObject
) -> None:
    nodes, edges, net = tree
    if len(nodes) < 3:
        return
    a, b = data.draw(st.sampled_from([(x.id, y.id) for x in nodes for y in nodes if x.id < y.id]))
    if edge_problem(a, b, [n.id for n in nodes], edges) is not None:
        return
    flows = estimate_flows(nodes, [*edges, _edge("loop", a, b)], net)
    assert flows["loop"] == Flow(None, "in_cycle")
