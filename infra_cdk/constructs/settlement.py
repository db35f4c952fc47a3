"""Settlement context: the runs, shards and postings tables, the settlement API function, the run's state
machine (state_machines/settlement.asl.json, loaded as it is), its four task functions, the manifest bucket
and the 15-minute schedule that starts runs (docs/settlement.md, decisions 0022 and 0023).

Least privilege, per function:

- **API** (`POST/GET /v1/settlements`): runs read/write, the posting history read (a run's postings);
  `states:StartExecution` on this state machine only.
- **Scheduler** (`settlement-runs`): runs read/write (where the last scheduled run stopped);
  `states:StartExecution` on this state machine only.
- **Prepare**: reads what decides the parties and shards (the intervals' trades and orders, sites with
  their devices and investments, communities and members), writes the run; `s3:PutObject` on `runs/*` of
  the manifest bucket.
- **SettleShard**: reads its inputs (the above plus the telemetry rollups and raw readings it re-rolls
  from), posts to the ledger as the wallets context does (transactions and entries read + PutItem only,
  account heads read/write), writes postings and its shard's completion record.
- **Finalize**: the run, its shards' completion records (read), the market's intervals (marked
  `settled`), `events:PutEvents` on the default bus (SettlementCompleted).
- **MarkFailed**: the run, and `events:PutEvents` (SettlementFailed).

The state machine's role may invoke the four task functions, read the manifest (the Distributed Map's
S3 ItemReader) and run its own child executions (`states:StartExecution` on itself, Describe/Stop on its
executions): nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from gridshare.communities.models import CommunityModel, MemberModel
from gridshare.contexts import owned_tables
from gridshare.kernel import resources
from gridshare.ledger.models import LedgerAccountModel, LedgerEntryModel, LedgerTransactionModel
from gridshare.market.models import IntervalModel, OrderModel, TradeModel
from gridshare.settlement.models import SettlementPostingModel, SettlementRunModel, SettlementShardModel
from gridshare.sites.models import InvestmentModel, SiteDeviceModel, SiteModel
from gridshare.telemetry.models import RawReadingModel, RollupModel
from infra_cdk import messaging
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "settlement"
ASL_FILE = resources.REPO_ROOT / "state_machines" / "settlement.asl.json"
TASK_TIMEOUT_S = 900
MANIFEST_PREFIX = "runs/"
MANIFEST_DAYS = 90  # manifests are the audit trail of what a run settled; kept a quarter, then expire

LEDGER_TABLES = {
    LedgerTransactionModel: Access.READ_APPEND,
    LedgerEntryModel: Access.READ_APPEND,
    LedgerAccountModel: Access.READ_WRITE,
}
# What a run reads to know its parties (settlement.inputs): the intervals' trades and their orders' sites
# (market), every site with its devices and posted investments (sites; an investment counts once its
# ledger transaction is there), every community and its members.
PARTIES_TABLES = {
    TradeModel: Access.READ,
    OrderModel: Access.READ,
    SiteModel: Access.READ,
    SiteDeviceModel: Access.READ,
    InvestmentModel: Access.READ,
    LedgerTransactionModel: Access.READ,
    CommunityModel: Access.READ,
    MemberModel: Access.READ,
}
API_TABLES = {SettlementRunModel: Access.READ_WRITE, SettlementPostingModel: Access.READ}
TASK_TABLES: dict[str, dict[type, Access]] = {
    "prepare": {SettlementRunModel: Access.READ_WRITE, **PARTIES_TABLES},
    "settle_shard": {
        SettlementRunModel: Access.READ,
        SettlementShardModel: Access.READ_WRITE,
        SettlementPostingModel: Access.READ_WRITE,
        **PARTIES_TABLES,
        RollupModel: Access.READ,
        RawReadingModel: Access.READ,
        **LEDGER_TABLES,
    },
    "finalize": {
        SettlementRunModel: Access.READ_WRITE,
        SettlementShardModel: Access.READ,
        IntervalModel: Access.READ_WRITE,
    },
    "mark_failed": {SettlementRunModel: Access.READ_WRITE},
}
SCHEDULER_TABLES = {SettlementRunModel: Access.READ_WRITE}
PUBLISHES_EVENTS = ("finalize", "mark_failed")
TASK_PLACEHOLDERS = {
    "prepare": "PrepareFunctionArn",
    "settle_shard": "SettleShardFunctionArn",
    "finalize": "FinalizeFunctionArn",
    "mark_failed": "MarkFailedFunctionArn",
}


class SettlementContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        tables: dict[str, dynamodb.Table] = dict(self.tables)
        for context in ("wallets", "sites", "communities", "market", "telemetry"):
            tables.update(built[context].tables)  # type: ignore[attr-defined]

        self.bucket = s3.Bucket(
            self,
            "manifests",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(prefix=MANIFEST_PREFIX, expiration=Duration.days(MANIFEST_DAYS))],
        )
        settings = runtime.settings
        self.state_machine_name = f"gridshare-{settings.stage}-settlement"
        state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        environment = {
            "GS_SETTLEMENT_BUCKET": self.bucket.bucket_name,
            "GS_SETTLEMENT_STATE_MACHINE_ARN": state_machine_arn,
            "GS_SETTLEMENT_LAG_S": str(settings.settlement_lag_s),
            "GS_SETTLEMENT_MAX_CONCURRENCY": str(settings.settlement_max_concurrency),
        }
        start = _start_execution(state_machine_arn)

        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="settlement-api",
            description="Settlement runs: start one (admin), list and read them",
            environment={**runtime.cursor_secret_environment(), **environment},
        )
        grant_table_access(self.api_function, tables, API_TABLES)
        self.api_function.add_to_role_policy(start)

        self.tasks: dict[str, lambda_.Function] = {}
        for name, grants in TASK_TABLES.items():
            function = runtime.create_function(
                self,
                f"{name.replace('_', '-')}-function",
                handler=f"functions.settlement.{name}.handler",
                service=f"settlement-{name.replace('_', '-')}",
                description=f"Settlement run task: {name}",
                timeout=Duration.seconds(TASK_TIMEOUT_S),
                environment=environment,
            )
            grant_table_access(function, tables, grants)
            if name in PUBLISHES_EVENTS:
                function.add_to_role_policy(messaging.put_events_statement(stack, "PublishSettlementEvents"))
            self.tasks[name] = function
        self.bucket.grant_put(self.tasks["prepare"], f"{MANIFEST_PREFIX}*")

        self.scheduled = {}
        for spec in resources.SCHEDULES:
            if spec.context != CONTEXT:
                continue
            function, schedule = messaging.build_schedule(self, runtime, spec)
            function.add_environment("GS_SETTLEMENT_STATE_MACHINE_ARN", state_machine_arn)
            function.add_environment("GS_SETTLEMENT_LAG_S", environment["GS_SETTLEMENT_LAG_S"])
            grant_table_access(function, tables, SCHEDULER_TABLES)
            function.add_to_role_policy(start)
            self.scheduled[spec.name] = schedule

        role = iam.Role(
            self,
            "state-machine-role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Settlement run: invoke its four tasks, read manifests, run its own child executions",
        )
        for function in self.tasks.values():
            function.grant_invoke(role)
        self.bucket.grant_read(role, f"{MANIFEST_PREFIX}*")
        role.add_to_policy(start)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ChildExecutions",
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{self.state_machine_name}/*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        log_group = logs.LogGroup(self, "state-machine-logs", retention=logs.RetentionDays.ONE_MONTH)
        self.state_machine = sfn.StateMachine(
            self,
            "state-machine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(ASL_FILE)),
            definition_substitutions={
                **{placeholder: self.tasks[name].function_arn for name, placeholder in TASK_PLACEHOLDERS.items()},
                "ManifestBucket": self.bucket.bucket_name,
            },
            role=role,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ERROR),
        )


def _start_execution(state_machine_arn: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="StartSettlementRuns", actions=["states:StartExecution"], resources=[state_machine_arn]
    )


CONSTRUCT = SettlementContext
