"""Telemetry context: the telemetry IoT rule, the queues behind it, ingest, and the readings API.

Queues and event sources come from gridshare.kernel.resources, rules from iot_rules/*.json: the same facts
the local stack's rule bridge and pollers run on; infra_cdk.messaging builds the ones telemetry owns.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_timestream as timestream
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.devices.models import DeviceModel
from gridshare.kernel import resources
from gridshare.telemetry import retention
from gridshare.telemetry.models import (
    ArchivedDayModel,
    DeadLetterModel,
    LatestReadingModel,
    RawReadingModel,
    RollupModel,
)
from infra_cdk import messaging
from infra_cdk.constructs.devices import grant_health_writes
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "telemetry"

# What each function's code touches (gridshare.telemetry.service and its adapters). Ingest writes
# readings, rollups, the latest reading and dead letters, and looks devices up by thing name. The API
# reads all of those, and its dead-letter replay runs the ingest path in-process, so it writes the
# same tables ingest does. Both note the sender was seen through the devices service, with the devices
# context's health grants (infra_cdk.constructs.devices.grant_health_writes, decision 0012).
INGEST_TABLES = {
    LatestReadingModel: Access.READ_WRITE,
    RawReadingModel: Access.READ_WRITE,
    RollupModel: Access.READ_WRITE,
    DeadLetterModel: Access.READ_WRITE,
}
# A raw history reads the days past the retention from the archive (decision 0024): the archive table's
# records (read) and the objects under raw/ (s3:GetObject only, below).
API_TABLES = {**INGEST_TABLES, ArchivedDayModel: Access.READ}
# The rollup job (decision 0016) reads raw readings and writes the rollups table only (hour, day and
# cursor items; it deletes the dirty markers it re-rolled). It lists devices through the devices service:
# a read-only grant on the devices table, like ingest's thing-name lookup.
ROLLUP_JOB_TABLES = {RawReadingModel: Access.READ, RollupModel: Access.READ_WRITE, DeviceModel: Access.READ}
# The archive job (decision 0024) reads raw readings, lists devices, records what it archived (and its
# cursors) in the archive table, and may only put objects under raw/ in the archive bucket.
ARCHIVE_JOB_TABLES = {RawReadingModel: Access.READ, ArchivedDayModel: Access.READ_WRITE, DeviceModel: Access.READ}
ROLLUP_JOB_TIMEOUT_S = 900  # Lambda's longest; a run stops a minute before it and the next one continues
# Devices one rollup invocation (one segment) visits at most: a segment of a million-device fleet in 32
# segments is ~31,000 devices, visited in one run (docs/scaling.md).
ROLLUP_DEVICES_PER_RUN = 40_000
JOB_HANDLERS = {
    "functions.telemetry.rollup_job.handler": ROLLUP_JOB_TABLES,
    "functions.telemetry.archive_job.handler": ARCHIVE_JOB_TABLES,
}


class TelemetryContext(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: SharedRuntime,
        built: Mapping[str, Construct],
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        # Ingest resolves thing names through the devices service: a read-only grant on the devices table
        # (docs/decisions/0005-context-first-layout.md).
        devices_tables: Mapping[str, dynamodb.Table] = built["devices"].tables  # type: ignore[attr-defined]
        tables = {**self.tables, **devices_tables}

        # Raw readings expire by TTL (the raw table's `expires_at`, from the model) after this many days; the
        # archive bucket keeps them (decision 0024).
        self.retention_days = runtime.settings.telemetry_raw_retention_days
        retention_env = {retention.RETENTION_ENV: str(self.retention_days)}
        self.archive_bucket = s3.Bucket(
            self,
            "raw-archive",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,  # the only copy of readings older than the retention
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                )
            ],
        )

        self.queues = messaging.build_queues(self, CONTEXT)
        self.topic_rules = messaging.build_topic_rules(self, CONTEXT, self.queues)
        self.consumers = messaging.build_consumers(self, runtime, CONTEXT, self.queues)
        for function in self.consumers.values():
            grant_table_access(function, tables, INGEST_TABLES)
            grant_health_writes(function, devices_tables)
            _add_environment(function, retention_env)

        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="telemetry-api",
            description="Readings (latest, history) and dead letters (list, replay)",
            environment={**runtime.cursor_secret_environment(), **retention_env},
        )
        grant_table_access(self.api_function, tables, API_TABLES)
        grant_health_writes(self.api_function, devices_tables)
        self.api_function.add_environment(retention.BUCKET_ENV, self.archive_bucket.bucket_name)
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self.archive_bucket.arn_for_objects(f"{retention.PREFIX}*")]
            )
        )

        self.scheduled: dict[str, list[scheduler.CfnSchedule]] = {}
        self.jobs: dict[str, lambda_.Function] = {}
        for spec in resources.SCHEDULES:
            if spec.context == CONTEXT:
                self._schedule(runtime, spec, tables, retention_env)

        if runtime.settings.timestream:
            self.timestream = TimestreamHistory(self, "timestream", runtime=runtime)

    def _schedule(
        self,
        runtime: SharedRuntime,
        spec: resources.ScheduleSpec,
        tables: Mapping[str, dynamodb.Table],
        environment: Mapping[str, str],
    ) -> None:
        """A fleet-wide job (rollups, archive): its function (least-privilege grants), a role that may invoke
        only it, one schedule per segment."""
        function, schedules = messaging.build_schedules(self, runtime, spec, timeout_s=ROLLUP_JOB_TIMEOUT_S)
        grant_table_access(function, tables, JOB_HANDLERS[spec.handler])
        _add_environment(function, environment)
        if spec.handler == "functions.telemetry.rollup_job.handler":
            function.add_environment("GS_ROLLUP_DEVICES_PER_RUN", str(ROLLUP_DEVICES_PER_RUN))
        if spec.handler == "functions.telemetry.archive_job.handler":
            function.add_environment(retention.BUCKET_ENV, self.archive_bucket.bucket_name)
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject"],
                    resources=[self.archive_bucket.arn_for_objects(f"{retention.PREFIX}*")],
                )
            )
        self.scheduled[spec.name] = schedules
        self.jobs[spec.name] = function


def _add_environment(function: lambda_.Function, environment: Mapping[str, str]) -> None:
    for name, value in environment.items():
        function.add_environment(name, value)


class TimestreamHistory(Construct):
    """The optional Timestream sink (CDK context `timestream=true`; decision 0020).

    A Timestream database and table (memory and magnetic store retention from the CDK context), a queue
    subscribed to ingest's ReadingsAccepted events (with its DLQ and alarm), and the sink function writing
    one multi-measure record per accepted reading. The function may write to that table only
    (DescribeEndpoints has no resource-level permission). Timestream for LiveAnalytics stopped taking new
    customers on 2025-06-20, so this is off by default and history is served from the DynamoDB rollups.
    """

    def __init__(self, scope: Construct, construct_id: str, *, runtime: SharedRuntime) -> None:
        super().__init__(scope, construct_id)
        settings = runtime.settings
        stack = Stack.of(self)
        self.database = timestream.CfnDatabase(self, "database", database_name=f"{stack.stack_name}-telemetry")
        self.table = timestream.CfnTable(
            self,
            "readings",
            database_name=f"{stack.stack_name}-telemetry",
            table_name="readings",
            retention_properties={
                "MemoryStoreRetentionPeriodInHours": str(settings.timestream_memory_hours),
                "MagneticStoreRetentionPeriodInDays": str(settings.timestream_magnetic_days),
            },
        )
        self.table.add_dependency(self.database)
        self.queue = messaging.build_queue(self, resources.TIMESTREAM_QUEUE, consumed=True)
        self.rule = messaging.build_event_rule(self, resources.TIMESTREAM_RULE, self.queue)
        self.function = messaging.build_consumer(self, runtime, resources.TIMESTREAM_SOURCE, self.queue)
        self.function.add_environment("GS_TIMESTREAM_DATABASE", f"{stack.stack_name}-telemetry")
        self.function.add_environment("GS_TIMESTREAM_TABLE", "readings")
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["timestream:WriteRecords"], resources=[self.table.attr_arn])
        )
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["timestream:DescribeEndpoints"], resources=["*"]))


CONSTRUCT = TelemetryContext
