"""Grid context: the grid-nodes and grid-connections tables, and the grid API function.

Its code reaches other contexts through their services (docs/decisions/0015-grid.md), and so its
function needs a grant on each table those services read for it, read only:

- the devices table (`DeviceService.get_owned`: a node's meters must be existing devices);
- the telemetry latest readings (`TelemetryService.latest_readings`: BatchGetItem) and rollups
  (`TelemetryService.rollup_buckets`: the history).

Nothing else: the function writes only its own two tables (connections are written in transactions that
also update the nodes' degree, both its own).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.devices.models import DeviceModel
from gridshare.grid.models import GridConnectionModel, GridNodeModel
from gridshare.telemetry.models import LatestReadingModel, RawReadingModel, RollupModel
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "grid"

API_TABLES = {
    GridNodeModel: Access.READ_WRITE,
    GridConnectionModel: Access.READ_WRITE,
    DeviceModel: Access.READ,
    LatestReadingModel: Access.READ,
    RollupModel: Access.READ,
    RawReadingModel: Access.READ,  # the open hours, computed from raw readings on read (decision 0016)
}


class GridContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        others: dict[str, dynamodb.Table] = {}
        for context in ("devices", "telemetry"):
            others.update(built[context].tables)  # type: ignore[attr-defined]
        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="grid-api",
            description="Grid: topology, live view, realtime and historical metrics",
            environment=runtime.cursor_secret_environment(),
        )
        grant_table_access(self.api_function, {**self.tables, **others}, API_TABLES)


CONSTRUCT = GridContext
