"""Grid objects for tests that need some (the authorization matrix): made through the service, as an admin."""

from __future__ import annotations

from typing import Any

NODE_BODY: dict[str, Any] = {
    "name": "Matrix node",
    "type": "load",
    "capacityKw": 10,
    "voltageV": 400,
    "location": {"x": 0, "y": 0},
}


def grid_node(*_: object) -> str:
    """A new grid node's id (whoever asks: the grid is the platform's, not a user's)."""
    from gridshare.grid.service import grid_service
    from gridshare.kernel.roles import Caller

    caller = Caller("matrix", "matrix", "admin", ("admin",), 0, "matrix")
    fields = {"name": "Matrix node", "type": "load", "capacity_kw": 10, "voltage_v": 400}
    return str(grid_service().create_node(caller, {**fields, "location": {"x": 0, "y": 0}, "device_ids": []})["id"])


def connection_body(*_: object) -> dict[str, Any]:
    """A valid connection body between two new nodes."""
    return {"fromNodeId": grid_node(), "toNodeId": grid_node(), "capacityKw": 10, "impedanceOhm": 0.1}


def grid_connection(*_: object) -> str:
    """A new connection's id (between two new nodes)."""
    from gridshare.grid.service import grid_service

    body = connection_body()
    fields = {"from_node_id": body["fromNodeId"], "to_node_id": body["toNodeId"], "capacity_kw": 10, "impedance_ohm": 0}
    return str(grid_service().create_connection(fields)["id"])
