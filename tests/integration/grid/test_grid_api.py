"""The grid through the API against moto: topology, its rules, live status, realtime and history."""

from __future__ import annotations

import json
from typing import Any

from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device, ingest

PASSWORD = "Passw0rd!x"


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _fields(response: Any) -> set[str]:
    return {e["field"] for e in json.loads(response.body).get("errors", [])}


def operator(api: Api, email: str = "op@example.com") -> str:
    """A user promoted to operator by an admin, logged in again."""
    user = register_user(api, email, password=PASSWORD)
    create_admin("grid-admin@example.com", "Adm1nPassw0rd")
    admin = _data(api.call("POST", "/v1/auth/login", {"email": "grid-admin@example.com", "password": "Adm1nPassw0rd"}))
    promoted = api.call("PATCH", f"/v1/users/{user['user']['id']}", {"role": "operator"}, token=admin["accessToken"])
    assert promoted.status_code == 200, promoted.body
    return str(_data(api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD}))["accessToken"])


def node_body(name: str, node_type: str, **changes: Any) -> dict[str, Any]:
    body = {"name": name, "type": node_type, "capacityKw": 100, "voltageV": 400, "location": {"x": 1, "y": 2}}
    body.update(changes)
    return body


def add_node(api: Api, token: str, name: str, node_type: str, **changes: Any) -> dict[str, Any]:
    response = api.call("POST", "/v1/grid/nodes", node_body(name, node_type, **changes), token=token)
    assert response.status_code == 201, response.body
    return _data(response)


def connect(api: Api, token: str, a: str, b: str, **changes: Any) -> Any:
    body = {"fromNodeId": a, "toNodeId": b, "capacityKw": 50, "impedanceOhm": 0.1, **changes}
    return api.call("POST", "/v1/grid/connections", body, token=token)


def publish(thing: str, seq: int, metrics: dict[str, Any]) -> None:
    from gridshare.kernel.clock import now_ms

    assert ingest(thing, json.dumps({"ts": now_ms(), "seq": seq, "metrics": metrics})) == {"batchItemFailures": []}


def test_an_operator_builds_a_five_node_topology_and_reads_live_metrics(api: Api) -> None:
    token = operator(api)
    gen_meter = create_device(api, token, name="gen meter")
    load_meter = create_device(api, token, name="load meter")
    sub = add_node(api, token, "Substation", "substation", capacityKw=1000, location={"lat": 52.5, "lon": 13.4})
    trafo = add_node(api, token, "Transformer", "transformer")
    feeder = add_node(api, token, "Feeder", "feeder")
    gen = add_node(api, token, "PV park", "generator", deviceIds=[gen_meter["id"]])
    load = add_node(api, token, "Town", "load", capacityKw=40, deviceIds=[load_meter["id"]])
    for a, b in ((sub, trafo), (trafo, feeder), (feeder, load), (gen, feeder)):
        assert connect(api, token, a["id"], b["id"]).status_code == 201

    topology = _data(api.call("GET", "/v1/grid/topology", token=token))
    assert {n["status"] for n in topology["nodes"]} == {"no_data"}
    assert len(topology["edges"]) == 4 and all(e["flowKw"] == 0 for e in topology["edges"])
    empty = _data(api.call("GET", "/v1/grid/metrics/realtime", token=token))
    assert (empty["totalLoadKw"], empty["oldestReadingAt"], empty["nodes"]) == (0, None, 5)

    publish(gen_meter["thingName"], 1, {"pv_power_w": 10_000})
    publish(load_meter["thingName"], 1, {"power_w": 30_000, "voltage_v": 230, "current_a": 140, "frequency_hz": 50.1})
    live = _data(api.call("GET", "/v1/grid/metrics/realtime", token=token))
    assert (live["totalGenerationKw"], live["totalLoadKw"], live["frequencyHz"]) == (10, 30, 50.1)
    assert live["oldestReadingAt"] is not None and live["metersReporting"] == 2
    assert live["co2IntensityGPerKwh"] == 300 * 20 / 30
    assert live["lossesKw"] > 0

    topology = _data(api.call("GET", "/v1/grid/topology", token=token))
    status = {n["name"]: n["status"] for n in topology["nodes"]}
    assert status == {
        "Substation": "no_data",
        "Transformer": "no_data",
        "Feeder": "no_data",
        "PV park": "ok",
        "Town": "ok",
    }
    flows = {(e["fromNodeId"], e["toNodeId"]): (e["flowKw"], e["flowNote"]) for e in topology["edges"]}
    assert flows[(feeder["id"], load["id"])] == (30, "estimated")
    assert flows[(trafo["id"], feeder["id"])] == (20, "partial")

    publish(load_meter["thingName"], 2, {"power_w": 45_000})  # above the town's 40 kW
    town = _data(api.call("GET", f"/v1/grid/nodes/{load['id']}", token=token))
    assert (town["status"], town["liveLoadKw"]) == ("overloaded", 45)
    overloaded = _data(api.call("GET", "/v1/grid/nodes?status=overloaded", token=token))
    assert [n["name"] for n in overloaded] == ["Town"]
    assert [n["name"] for n in _data(api.call("GET", "/v1/grid/nodes?type=feeder", token=token))] == ["Feeder"]

    history = _data(api.call("GET", "/v1/grid/history?metric=frequency&resolution=15m", token=token))
    assert history["unit"] == "Hz" and history["meters"] == 2
    assert [p["value"] for p in history["points"]] == [50.1]


def test_the_graph_rules(api: Api) -> None:
    token = operator(api)
    a = add_node(api, token, "A", "substation")
    b = add_node(api, token, "B", "load")
    edge = connect(api, token, a["id"], b["id"])
    assert edge.status_code == 201
    duplicate = connect(api, token, b["id"], a["id"])
    assert duplicate.status_code == 409 and _fields(duplicate) == {"toNodeId"}
    self_loop = connect(api, token, a["id"], a["id"])
    assert self_loop.status_code == 422 and _fields(self_loop) == {"toNodeId"}
    dangling = connect(api, token, a["id"], "01J00000000000000000000000")
    assert dangling.status_code == 422 and _fields(dangling) == {"toNodeId"}

    refused = api.call("DELETE", f"/v1/grid/nodes/{a['id']}", token=token)
    assert refused.status_code == 409
    assert api.call("DELETE", f"/v1/grid/connections/{_data(edge)['id']}", token=token).status_code == 204
    assert api.call("DELETE", f"/v1/grid/connections/{_data(edge)['id']}", token=token).status_code == 404
    assert connect(api, token, b["id"], a["id"]).status_code == 201  # the pair is free again
    assert len(_data(api.call("GET", "/v1/grid/connections", token=token))) == 1


def test_a_node_names_existing_devices_only_and_is_replaced_whole(api: Api) -> None:
    token = operator(api)
    missing = api.call("POST", "/v1/grid/nodes", node_body("X", "load", deviceIds=["nope"]), token=token)
    assert missing.status_code == 422 and _fields(missing) == {"deviceIds[0]"}
    twice = api.call("POST", "/v1/grid/nodes", node_body("X", "load", deviceIds=["d", "d"]), token=token)
    assert twice.status_code == 422
    # an operator may name any user's device
    prosumer = register_user(api, "host@example.com")["accessToken"]
    device = create_device(api, prosumer)
    node = add_node(api, token, "Home", "load", deviceIds=[device["id"]])
    replaced = api.call("PUT", f"/v1/grid/nodes/{node['id']}", node_body("Home 2", "storage"), token=token)
    assert replaced.status_code == 200, replaced.body
    assert (_data(replaced)["name"], _data(replaced)["type"], _data(replaced)["deviceIds"]) == ("Home 2", "storage", [])
    assert api.call("DELETE", f"/v1/grid/nodes/{node['id']}", token=token).status_code == 204
    assert api.call("GET", f"/v1/grid/nodes/{node['id']}", token=token).status_code == 404
    assert api.call("PUT", f"/v1/grid/nodes/{node['id']}", node_body("Y", "load"), token=token).status_code == 404


def test_only_operators_and_admins_reach_the_grid(api: Api) -> None:
    consumer = register_user(api, "consumer@example.com", role="consumer")["accessToken"]
    assert api.call("POST", "/v1/grid/nodes", node_body("X", "load"), token=consumer).status_code == 403
    assert api.call("GET", "/v1/grid/topology", token=consumer).status_code == 403
    assert api.call("GET", "/v1/grid/metrics/realtime").status_code == 401
