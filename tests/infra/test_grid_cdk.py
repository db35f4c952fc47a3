"""The grid context's infrastructure: its routes reach its function, its grants are least privilege."""

from __future__ import annotations

from typing import Any

from gridshare.devices.models import DeviceModel
from gridshare.grid.models import GridConnectionModel, GridNodeModel
from gridshare.telemetry.models import LatestReadingModel, RawReadingModel, RollupModel
from tests.infra.test_cdk import (
    OWNERS,
    READ,
    WRITE_ACTIONS,
    _normalized,
    access_level,
    deployed_routes,
    function_id,
    method_paths,
    referenced_ids,
    table_actions,
)

GRID = "functions.grid.lambda_app.app"
# The routes of the issue (an acceptance client outside this repo calls them); parameters compared as "{}".
GRID_ROUTES = {
    ("GET", "/v1/grid/nodes"),
    ("POST", "/v1/grid/nodes"),
    ("GET", "/v1/grid/nodes/{}"),
    ("PUT", "/v1/grid/nodes/{}"),
    ("DELETE", "/v1/grid/nodes/{}"),
    ("GET", "/v1/grid/connections"),
    ("POST", "/v1/grid/connections"),
    ("DELETE", "/v1/grid/connections/{}"),
    ("GET", "/v1/grid/topology"),
    ("GET", "/v1/grid/metrics/realtime"),
    ("GET", "/v1/grid/history"),
}


def test_grid_routes_are_deployed_protected_and_reach_the_grid_function(template: dict[str, Any]) -> None:
    grid = [r for r in deployed_routes() if r.context == "grid"]
    assert {(r.method.upper(), _normalized(r.path)) for r in grid} == GRID_ROUTES
    methods = method_paths(template)
    fn = function_id(template, GRID)
    for route in grid:
        method = methods[(route.method.upper(), route.path)]
        assert fn in referenced_ids(method["Integration"]["Uri"]), route.path
        assert route.protected and method["AuthorizationType"] == "CUSTOM", route.path
        assert route.roles == frozenset({"admin", "operator"}), route.path


def test_grid_function_writes_only_its_tables_and_reads_devices_latest_and_rollups(
    template: dict[str, Any],
) -> None:
    actions = table_actions(template, function_id(template, GRID))
    own = {m.Meta.logical_name for m in OWNERS["grid"]}
    assert own == {GridNodeModel.Meta.logical_name, GridConnectionModel.Meta.logical_name}
    for name in own:
        assert actions[name] & WRITE_ACTIONS, name
    for model in (DeviceModel, LatestReadingModel, RollupModel, RawReadingModel):
        assert access_level(actions[model.Meta.logical_name]) == READ, model
    telemetry = {m.Meta.logical_name for m in OWNERS["telemetry"]}
    # decision 0016: the latest reading and the open hours are read from raw readings
    assert set(actions) & telemetry == {
        LatestReadingModel.Meta.logical_name,
        RollupModel.Meta.logical_name,
        RawReadingModel.Meta.logical_name,
    }
    writable = {name for name, granted in actions.items() if granted & WRITE_ACTIONS}
    assert writable - own <= {"token_revocations", "security_events"}  # the route guard's, nothing else
