"""Telemetry context: the IoT topic rules, the queues behind them, ingest, and the readings API.

Queues and event sources come from gridshare.kernel.resources, rules from iot_rules/*.json (via
resources.topic_rules()): the same facts the local stack's rule bridge and pollers run on. Every queue
has a dead-letter queue and an alarm on it; a queue nobody consumes (the rules' error queue) is alarmed
on directly, since any message in it is a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.devices.models import DeviceModel
from gridshare.kernel import resources
from gridshare.telemetry.models import DeadLetterModel, LatestReadingModel, RawReadingModel, RollupModel
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "telemetry"

# What each function's code touches (gridshare.telemetry.service and its adapters). Ingest writes
# readings, rollups, the latest reading and dead letters, and looks devices up by thing name. The API
# reads all of those, and its dead-letter replay runs the ingest path in-process, so it writes the
# same tables ingest does. Neither may write the devices table.
INGEST_TABLES = {
    LatestReadingModel: Access.READ_WRITE,
    RawReadingModel: Access.READ_WRITE,
    RollupModel: Access.READ_WRITE,
    DeadLetterModel: Access.READ_WRITE,
    DeviceModel: Access.READ,
}
API_TABLES = dict(INGEST_TABLES)


def queue_name(stack: Stack, logical: str) -> str:
    """Physical queue name: stage-prefixed, so the console and the alarms say which deployment."""
    return f"{stack.stack_name}-{logical}"


def dlq_name(logical: str) -> str:
    return f"{logical}-dlq"  # resources.QueueSpec: "then the message moves to `<name>-dlq`"


def _service_name(handler: str) -> str:
    """`functions.telemetry.ingest.handler` -> `telemetry-ingest` (POWERTOOLS_SERVICE_NAME)."""
    parts = handler.split(".")
    return "-".join(parts[1:-1]).replace("_", "-")


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
        stack = Stack.of(self)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        # Ingest resolves thing names through the devices service: a read-only grant on the devices table
        # (docs/decisions/0005-context-first-layout.md).
        devices_tables: Mapping[str, dynamodb.Table] = built["devices"].tables  # type: ignore[attr-defined]
        tables = {**self.tables, **devices_tables}

        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for spec in resources.QUEUES:
            dlq = sqs.Queue(
                self,
                dlq_name(spec.name),
                queue_name=queue_name(stack, dlq_name(spec.name)),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(14),  # the longest SQS allows: time to find the cause
            )
            self.dead_letter_queues[spec.name] = dlq
            self.queues[spec.name] = sqs.Queue(
                self,
                spec.name,
                queue_name=queue_name(stack, spec.name),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
                dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count),
            )
            _alarm_on_messages(
                self,
                f"{spec.name}-dlq-alarm",
                dlq,
                f"Messages in {dlq_name(spec.name)}: {spec.name} failed them {spec.max_receive_count} times",
            )

        consumed = {source.queue for source in resources.EVENT_SOURCES}
        for spec in resources.QUEUES:
            if spec.name not in consumed:
                _alarm_on_messages(
                    self,
                    f"{spec.name}-alarm",
                    self.queues[spec.name],
                    f"Messages in {spec.name}: nothing consumes it, so each one is a failure",
                )

        self.topic_rules = [self._topic_rule(rule) for rule in resources.topic_rules()]

        self.consumers: dict[str, lambda_.Function] = {}
        for source in resources.EVENT_SOURCES:
            if source.context != CONTEXT:
                continue
            spec = next(q for q in resources.QUEUES if q.name == source.queue)
            function = runtime.create_function(
                self,
                f"{_service_name(source.handler)}-function",
                handler=source.handler,
                service=_service_name(source.handler),
                description=f"Consumes {source.queue} (partial batch failures)",
                # AWS advises a queue visibility timeout of at least six times the function timeout,
                # so a batch is not redelivered while a retry of it is still running.
                timeout=Duration.seconds(max(3, spec.visibility_timeout_s // 6)),
            )
            grant_table_access(function, tables, INGEST_TABLES)
            function.add_event_source(
                event_sources.SqsEventSource(
                    self.queues[source.queue],
                    batch_size=source.batch_size,
                    report_batch_item_failures=True,
                )
            )
            self.consumers[source.handler] = function

        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="telemetry-api",
            description="Readings (latest, history) and dead letters (list, replay)",
            environment=runtime.cursor_secret_environment(),
        )
        grant_table_access(self.api_function, tables, API_TABLES)

        if runtime.settings.timestream:
            TimestreamHistory(self, "timestream")

    def _topic_rule(self, rule: dict[str, Any]) -> iot.CfnTopicRule:
        """One iot_rules/*.json rule; its role may send only to the queues the rule names."""
        targets = [_sqs_target(rule["name"], action) for action in rule["actions"]]
        error_target = _sqs_target(rule["name"], rule["errorAction"])
        queues = [self.queues[name] for name in dict.fromkeys([*targets, error_target])]
        role = iam.Role(
            self,
            f"{rule['name']}-role",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
            description=f"IoT rule {rule['name']}: send to its queues only",
        )
        send = iam.Policy(
            self,
            f"{rule['name']}-send",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn for queue in queues],
                )
            ],
        )

        def sqs_action(queue: str) -> iot.CfnTopicRule.ActionProperty:
            return iot.CfnTopicRule.ActionProperty(
                sqs=iot.CfnTopicRule.SqsActionProperty(
                    queue_url=self.queues[queue].queue_url,
                    role_arn=role.role_arn,
                    use_base64=False,
                )
            )

        topic_rule = iot.CfnTopicRule(
            self,
            rule["name"],
            rule_name=rule["name"],
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=rule["sql"],
                aws_iot_sql_version=rule["awsIotSqlVersion"],
                description=rule.get("description"),
                rule_disabled=False,
                actions=[sqs_action(queue) for queue in targets],
                error_action=sqs_action(error_target),
            ),
        )
        # Without this, CloudFormation may create the rule before the role's policy exists, and the
        # first messages would go to neither queue.
        topic_rule.node.add_dependency(send)
        return topic_rule


def _sqs_target(rule_name: str, action: dict[str, Any]) -> str:
    """The queue of a rule action; only SQS actions exist today, anything else must fail the synth."""
    if set(action) != {"sqs"}:
        raise NotImplementedError(f"IoT rule {rule_name}: infra_cdk maps only sqs actions, not {sorted(action)}")
    queue = str(action["sqs"]["queue"])
    if queue not in {spec.name for spec in resources.QUEUES}:
        raise ValueError(f"IoT rule {rule_name} sends to '{queue}', which is not in resources.QUEUES")
    return queue


def _alarm_on_messages(scope: Construct, construct_id: str, queue: sqs.Queue, description: str) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1),
            statistic=cloudwatch.Stats.MAXIMUM,
        ),
        threshold=0,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


class TimestreamHistory(Construct):
    """Placeholder for the Timestream rule action and tables (CDK context `timestream=true`).

    Timestream for LiveAnalytics stopped taking new customers on 2025-06-20 (DESIGN.md section 5), so
    history and analytics are served by DynamoDB rollups and the S3 archive. This construct provisions
    nothing; it exists so that the flag is honoured visibly, and marks where an existing Timestream
    customer would add a database, tables and a `timestream` action on the telemetry rule.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        Annotations.of(self).add_warning_v2(
            "gridshare:timestream-placeholder",
            "timestream=true: Timestream for LiveAnalytics is closed to new customers; nothing is "
            "provisioned. History is served from the DynamoDB rollups.",
        )


CONSTRUCT = TelemetryContext
