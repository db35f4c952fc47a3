"""The grid, as an operator and its meters use it, through the running local stack."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5

from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def _operator(stack: Stack, email: str) -> str:
    """A registered user promoted to operator by an admin, logged in again (a role change revokes tokens)."""
    user = stack.register(email)
    admin = stack.admin_token()
    promoted = stack.call("PATCH", f"/v1/users/{user['user']['id']}", {"role": "operator"}, token=admin)
    assert promoted.status_code == 200, promoted.text
    login = stack.call("POST", "/v1/auth/login", {"email": email, "password": "Passw0rd!x"})
    assert login.status_code == 200, login.text
    return str(login.json()["data"]["accessToken"])


def _node(stack: Stack, token: str, name: str, node_type: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "type": node_type, "capacityKw": 100, "voltageV": 400, "location": {"x": 0, "y": 0}}
    response = stack.call("POST", "/v1/grid/nodes", {**body, **fields}, token=token)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def test_an_operator_builds_a_five_node_topology_and_realtime_metrics_follow_a_meter(
    stack: Stack, tmp_path: Path
) -> None:
    # Given an operator, two meters and a 5-node radial feeder: substation -> transformer -> feeder -> {town, pv}
    token = _operator(stack, "grid.operator@example.com")
    town_meter = stack.call("POST", "/v1/devices", {"name": "town meter", "type": "meter"}, token=token).json()["data"]
    pv_meter = stack.call("POST", "/v1/devices", {"name": "pv meter", "type": "meter"}, token=token).json()["data"]
    substation = _node(stack, token, "Substation", "substation", capacityKw=1000, location={"lat": 52.5, "lon": 13.4})
    transformer = _node(stack, token, "Transformer", "transformer")
    feeder = _node(stack, token, "Feeder", "feeder")
    town = _node(stack, token, "Town", "load", capacityKw=40, deviceIds=[town_meter["id"]])
    pv = _node(stack, token, "PV park", "generator", deviceIds=[pv_meter["id"]])
    for a, b in ((substation, transformer), (transformer, feeder), (feeder, town), (pv, feeder)):
        body = {"fromNodeId": a["id"], "toNodeId": b["id"], "capacityKw": 50, "impedanceOhm": 0.05}
        created = stack.call("POST", "/v1/grid/connections", body, token=token)
        assert created.status_code == 201, created.text
    reversed_duplicate = {"fromNodeId": town["id"], "toNodeId": feeder["id"], "capacityKw": 1, "impedanceOhm": 1}
    assert stack.call("POST", "/v1/grid/connections", reversed_duplicate, token=token).status_code == 409

    def realtime() -> dict[str, Any]:
        response = stack.call("GET", "/v1/grid/metrics/realtime", token=token)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def realtime_when(field: str, value: float) -> dict[str, Any] | None:
        metrics = realtime()
        return metrics if metrics[field] == value else None

    before = realtime()
    assert (before["nodes"], before["totalLoadKw"], before["oldestReadingAt"]) == (5, 0, None)

    # When the meters publish over MQTT (mutual TLS): the town draws 30 kW, the PV park makes 10 kW
    with (
        DeviceConnection(town_meter, tmp_path / "town") as town_device,
        DeviceConnection(pv_meter, tmp_path / "pv") as pv_device,
    ):
        now = int(time.time() * 1000)
        sent = town_device.send_telemetry(
            {"ts": now, "seq": 1, "metrics": {"power_w": 30_000, "voltage_v": 231, "frequency_hz": 50.02}}
        )
        assert sent == mqtt5.PubackReasonCode.SUCCESS
        assert pv_device.send_telemetry({"ts": now, "seq": 1, "metrics": {"pv_power_w": 10_000}}) == sent

        # Then the realtime metrics show them, with the timestamp of the oldest reading used
        live = wait_for(lambda: realtime_when("metersReporting", 2), "both readings used")
        assert (live["totalLoadKw"], live["totalGenerationKw"], live["frequencyHz"]) == (30, 10, 50.02)
        assert live["oldestReadingAt"] is not None and live["lossesKw"] > 0

        # And they change when the town's meter publishes again: 45 kW overloads the town (40 kW)
        later = int(time.time() * 1000)
        assert town_device.send_telemetry({"ts": later, "seq": 2, "metrics": {"power_w": 45_000}}) == sent
        changed = wait_for(lambda: realtime_when("totalLoadKw", 45), "the new reading used")
        assert changed["totalGenerationKw"] == 10

    topology = stack.call("GET", "/v1/grid/topology", token=token).json()["data"]
    status = {n["name"]: n["status"] for n in topology["nodes"]}
    assert (status["Town"], status["PV park"], status["Feeder"]) == ("overloaded", "ok", "no_data")
    flows = {(e["fromNodeId"], e["toNodeId"]): e["flowKw"] for e in topology["edges"]}
    assert flows[(feeder["id"], town["id"])] == 45 and flows[(transformer["id"], feeder["id"])] == 35

    # And a consumer can neither edit nor read the grid; a node with connections is not deleted
    consumer = stack.register("grid.consumer@example.com", role="consumer")["accessToken"]
    refused = stack.call("POST", "/v1/grid/nodes", {"name": "x", "type": "load"}, token=consumer)
    assert refused.status_code == 403
    assert stack.call("GET", "/v1/grid/topology", token=consumer).status_code == 403
    assert stack.call("DELETE", f"/v1/grid/nodes/{feeder['id']}", token=token).status_code == 409
