"""The grid's reads and bounds against moto: batched latest readings, history from counters, the node
bound, paging, and the pair rule held by the store's transaction itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridshare.kernel import errors
from tests.integration.grid.test_grid_api import add_node, connect, operator
from tests.support.api import Api
from tests.support.devices import create_device, ingest

Q = 900_000


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def test_latest_readings_are_read_in_batches_of_100(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.kernel.clock import now_ms
    from gridshare.kernel.factory import reset_services
    from gridshare.telemetry.models import LatestReadingModel
    from gridshare.telemetry.service import telemetry_service

    # decision 0003's latest table (GS_TELEMETRY_WRITE_PATH=transaction, selectable for one release)
    monkeypatch.setenv("GS_TELEMETRY_WRITE_PATH", "transaction")
    reset_services()
    at = now_ms()
    ids = [f"dev-{n:03d}" for n in range(150)]
    with LatestReadingModel.batch_write() as batch:
        for n, device_id in enumerate(ids):
            item = LatestReadingModel(device_id=device_id)
            item.ts, item.seq, item.received_at = at, n, at
            item.metrics, item.counters = {"power_w": n}, {}
            batch.save(item)
    found = telemetry_service().latest_readings([*ids, "absent", ids[0]])
    assert set(found) == set(ids)
    assert found["dev-149"]["metrics"] == {"power_w": 149}
    reset_services()


def test_latest_readings_are_the_newest_raw_readings(api: Api) -> None:
    from gridshare.kernel.clock import now_ms
    from gridshare.telemetry.readings import Reading
    from gridshare.telemetry.rollups import counter_state
    from gridshare.telemetry.service import telemetry_service

    # decision 0016 (the default): the newest raw item of each device, one query per device
    at = now_ms()
    store = telemetry_service().store
    for n in range(3):
        for ts in (at - 120_000, at - 60_000):
            reading = Reading(device_id=f"dev-raw-{n}", ts=ts, seq=ts // 1000, metrics={"power_w": float(n)})
            store.store(reading, [], None, counter_state(reading, None), ts)
    found = telemetry_service().latest_readings(["dev-raw-0", "dev-raw-1", "dev-raw-2", "absent"])
    assert sorted(found) == ["dev-raw-0", "dev-raw-1", "dev-raw-2"]
    assert found["dev-raw-2"]["ts"] == at - 60_000 and found["dev-raw-2"]["metrics"] == {"power_w": 2.0}


def test_history_of_generation_and_load_from_the_meters_counters(api: Api) -> None:
    from gridshare.kernel.clock import now_ms

    token = operator(api)
    pv, town = create_device(api, token, name="pv"), create_device(api, token, name="town")
    add_node(api, token, "PV", "generator", deviceIds=[pv["id"]])
    add_node(api, token, "Town", "load", deviceIds=[town["id"]])
    bucket = (now_ms() - 3_600_000) // Q * Q
    for thing, counter, values in (
        (pv["thingName"], "energy_export_wh", (1000, 1500)),
        (town["thingName"], "energy_import_wh", (0, 250)),
    ):
        for seq, (ts, value) in enumerate(((bucket + 1000, values[0]), (bucket + Q - 1, values[1])), start=1):
            message = {"ts": ts, "seq": seq, "metrics": {counter: value}}
            assert ingest(thing, json.dumps(message)) == {"batchItemFailures": []}
    params = f"from={bucket}&to={bucket + Q}&resolution=15m"
    generation = _data(api.call("GET", f"/v1/grid/history?metric=generation&{params}", token=token))
    assert generation["unit"] == "kW" and generation["meters"] == 2
    assert [(p["value"], p["meters"]) for p in generation["points"]] == [(2.0, 1)]  # 500 Wh in 15 min
    load = _data(api.call("GET", f"/v1/grid/history?metric=load&{params}", token=token))
    assert [p["value"] for p in load["points"]] == [1.0]
    too_long = api.call(
        "GET",
        "/v1/grid/history?metric=load&resolution=15m&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
        token=token,
    )
    assert too_long.status_code == 422


def test_the_node_bound_and_paging(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.grid import service

    token = operator(api)
    monkeypatch.setattr(service, "MAX_NODES", 3)
    for n in range(3):
        add_node(api, token, f"n{n}", "feeder" if n else "substation")
    body = {"name": "n4", "type": "load", "capacityKw": 1, "voltageV": 230, "location": {"x": 0, "y": 0}}
    assert api.call("POST", "/v1/grid/nodes", body, token=token).status_code == 409
    first = json.loads(api.call("GET", "/v1/grid/nodes?limit=2", token=token).body)
    assert len(first["data"]) == 2 and first["pagination"]["nextCursor"]
    second = json.loads(
        api.call("GET", f"/v1/grid/nodes?limit=2&cursor={first['pagination']['nextCursor']}", token=token).body
    )
    assert {n["name"] for n in first["data"] + second["data"]} == {"n0", "n1", "n2"}


def test_the_store_refuses_a_reversed_duplicate_on_its_own(api: Api) -> None:
    """The rule holds without the service's pre-checks: two racing requests both pass those."""
    from gridshare.grid.models import GridConnectionModel
    from gridshare.grid.store import GridStore

    token = operator(api)
    a, b = add_node(api, token, "A", "substation"), add_node(api, token, "B", "load")
    assert connect(api, token, a["id"], b["id"]).status_code == 201
    racing = GridConnectionModel(id="racing", kind="connection", from_node_id=b["id"], to_node_id=a["id"])
    racing.capacity_kw, racing.impedance_ohm, racing.created_at = 1, 0, 0
    with pytest.raises(errors.Conflict):
        GridStore().add_connection(racing)
    dangling = GridConnectionModel(id="dangling", kind="connection", from_node_id=a["id"], to_node_id="gone")
    dangling.capacity_kw, dangling.impedance_ohm, dangling.created_at = 1, 0, 0
    with pytest.raises(errors.InvalidInput):
        GridStore().add_connection(dangling)
    nodes = {n["name"]: n["connections"] for n in _data(api.call("GET", "/v1/grid/nodes", token=token))}
    assert nodes == {"A": 1, "B": 1}  # the refused transactions changed no degree
