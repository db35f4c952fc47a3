"""Settlement context (docs/settlement.md, decisions 0022 and 0023): its tables (runs, shard completion
records, the posting history), the settlement API function and the settlement-runs schedule's function.

The API function reads and writes the runs table (a run is recorded before its execution starts) and
reads the posting history (a run's postings); the schedule's function reads and writes the runs table.
Both start executions of the settlement state machine: that grant, the state machine
(`state_machines/settlement.asl.json` by `DefinitionBody.from_file`), its four task functions, the manifest
bucket and their grants come with the state machine's construct.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.kernel import resources
from gridshare.settlement.models import SettlementPostingModel, SettlementRunModel
from infra_cdk import messaging
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "settlement"

API_TABLES = {SettlementRunModel: Access.READ_WRITE, SettlementPostingModel: Access.READ}
SCHEDULE_TABLES = {"functions.settlement.scheduler.handler": {SettlementRunModel: Access.READ_WRITE}}


class SettlementContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="settlement-api",
            description="Settlement: start, list and read settlement runs",
            environment=runtime.cursor_secret_environment(),
        )
        grant_table_access(self.api_function, self.tables, API_TABLES)
        self.scheduled = {
            spec.name: self._schedule(runtime, spec) for spec in resources.SCHEDULES if spec.context == CONTEXT
        }

    def _schedule(self, runtime: SharedRuntime, spec: resources.ScheduleSpec) -> scheduler.CfnSchedule:
        function, schedule = messaging.build_schedule(self, runtime, spec)
        grant_table_access(function, self.tables, SCHEDULE_TABLES[spec.handler])
        return schedule


CONSTRUCT = SettlementContext
