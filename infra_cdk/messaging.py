"""Queues (with DLQs and alarms), IoT topic rules and SQS consumers, for the context that owns them.

Queues, event sources and rules are declared once, in gridshare.kernel.resources and iot_rules/*.json: the
local stack runs on the same facts. Each context's construct builds the ones it owns (a queue's
`context`; a rule belongs to the context of the queue its action sends to): telemetry its ingest path,
devices its command acks. Every queue has a dead-letter queue and an alarm on it; a queue nobody consumes
(a rule's error queue) is alarmed on directly, since any message in it is a failure.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from gridshare.kernel import resources
from infra_cdk.constructs.shared import SharedRuntime


def queue_name(stack: Stack, logical: str) -> str:
    """Physical queue name: stage-prefixed, so the console and the alarms say which deployment (a context in a
    nested stack names its queues after the deployment's stack too)."""
    while stack.nested_stack_parent is not None:
        stack = stack.nested_stack_parent
    return f"{stack.stack_name}-{logical}"


def dlq_name(logical: str) -> str:
    return f"{logical}-dlq"  # resources.QueueSpec: "then the message moves to `<name>-dlq`"


def service_name(handler: str) -> str:
    """`functions.telemetry.ingest.handler` -> `telemetry-ingest` (POWERTOOLS_SERVICE_NAME)."""
    parts = handler.split(".")
    return "-".join(parts[1:-1]).replace("_", "-")


def build_queues(scope: Construct, context: str) -> dict[str, sqs.Queue]:
    """The context's queues (resources.QUEUES), each with its DLQ and alarms; name -> queue."""
    consumed = {source.queue for source in resources.EVENT_SOURCES}
    return {
        spec.name: build_queue(scope, spec, consumed=spec.name in consumed)
        for spec in resources.QUEUES
        if spec.context == context
    }


def build_queue(scope: Construct, spec: resources.QueueSpec, *, consumed: bool) -> sqs.Queue:
    """One queue with its DLQ, an alarm on the DLQ, and an alarm on the queue itself when nothing consumes it."""
    stack = Stack.of(scope)
    dlq = sqs.Queue(
        scope,
        dlq_name(spec.name),
        queue_name=queue_name(stack, dlq_name(spec.name)),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),  # the longest SQS allows: time to find the cause
    )
    queue = sqs.Queue(
        scope,
        spec.name,
        queue_name=queue_name(stack, spec.name),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count),
    )
    alarm_on_messages(
        scope,
        f"{spec.name}-dlq-alarm",
        dlq,
        f"Messages in {dlq_name(spec.name)}: {spec.name} failed them {spec.max_receive_count} times",
    )
    if not consumed:
        alarm_on_messages(
            scope,
            f"{spec.name}-alarm",
            queue,
            f"Messages in {spec.name}: nothing consumes it, so each one is a failure",
        )
    return queue


def build_consumers(
    scope: Construct, runtime: SharedRuntime, context: str, queues: dict[str, sqs.Queue]
) -> dict[str, lambda_.Function]:
    """A function per event source of the context's queues (partial batch failures); handler -> function.
    The caller grants each its tables."""
    return {
        source.handler: build_consumer(scope, runtime, source, queues[source.queue])
        for source in resources.EVENT_SOURCES
        if source.context == context
    }


def build_consumer(
    scope: Construct, runtime: SharedRuntime, source: resources.EventSource, queue: sqs.Queue
) -> lambda_.Function:
    spec = next(q for q in (*resources.QUEUES, resources.TIMESTREAM_QUEUE) if q.name == source.queue)
    function = runtime.create_function(
        scope,
        f"{service_name(source.handler)}-function",
        handler=source.handler,
        service=service_name(source.handler),
        description=f"Consumes {source.queue} (partial batch failures)",
        # AWS advises a queue visibility timeout of at least six times the function timeout,
        # so a batch is not redelivered while a retry of it is still running.
        timeout=Duration.seconds(max(3, spec.visibility_timeout_s // 6)),
    )
    function.add_event_source(
        event_sources.SqsEventSource(queue, batch_size=source.batch_size, report_batch_item_failures=True)
    )
    return function


def build_event_rules(scope: Construct, context: str, queues: dict[str, sqs.Queue]) -> list[events.Rule]:
    """The context's subscriptions to domain events (resources.EVENT_RULES): an EventBridge rule on the
    default bus per spec, delivering to the context's queue."""
    built = []
    for spec in resources.EVENT_RULES:
        if spec.context != context:
            continue
        if spec.queue not in queues:
            raise ValueError(f"event rule {spec.name} sends to '{spec.queue}', not a queue of {context}")
        built.append(build_event_rule(scope, spec, queues[spec.queue]))
    return built


def build_event_rule(scope: Construct, spec: resources.EventRuleSpec, queue: sqs.Queue) -> events.Rule:
    """The target adds the queue policy that lets only this rule send."""
    return events.Rule(
        scope,
        f"{spec.name}-rule",
        description=f"{', '.join(spec.detail_types)} from {', '.join(spec.sources)} to {spec.queue}",
        event_pattern=events.EventPattern(source=list(spec.sources), detail_type=list(spec.detail_types)),
        targets=[events_targets.SqsQueue(queue)],
    )


def build_schedule(
    scope: Construct, runtime: SharedRuntime, spec: resources.ScheduleSpec, *, timeout_s: int = 60
) -> tuple[lambda_.Function, scheduler.CfnSchedule]:
    """A resources.SCHEDULES entry of one segment: its function, a role that may invoke only that function,
    and the EventBridge Scheduler schedule (no retries: the next run does the work). The caller grants the
    function what it touches."""
    function, (schedule,) = build_schedules(scope, runtime, spec, timeout_s=timeout_s)
    return function, schedule


def build_schedules(
    scope: Construct, runtime: SharedRuntime, spec: resources.ScheduleSpec, *, timeout_s: int = 60
) -> tuple[lambda_.Function, list[scheduler.CfnSchedule]]:
    """Like build_schedule, with one schedule per segment of the spec (`ScheduleSpec.invocations`: each
    invokes the one function with its segment as input), all through the one invoke-only role."""
    function = runtime.create_function(
        scope,
        f"{service_name(spec.handler)}-function",
        handler=spec.handler,
        service=service_name(spec.handler),
        description=f"Runs on {spec.expression} ({spec.name})",
        timeout=Duration.seconds(timeout_s),
    )
    role = iam.Role(
        scope,
        f"{spec.name}-role",
        assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
        description=f"Schedule {spec.name}: invoke its function only",
    )
    function.grant_invoke(role)
    schedules = [
        scheduler.CfnSchedule(
            scope,
            name,
            description=f"Runs {spec.handler}" + (f" ({payload})" if spec.segments > 1 else ""),
            schedule_expression=spec.expression,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=role.role_arn,
                input=payload,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=0),
            ),
        )
        for name, payload in spec.invocations()
    ]
    return function, schedules


def build_topic_rules(scope: Construct, context: str, queues: dict[str, sqs.Queue]) -> list[iot.CfnTopicRule]:
    """The iot_rules/*.json rules of the context (resources.rule_context)."""
    return [
        topic_rule(scope, rule, queues) for rule in resources.topic_rules() if resources.rule_context(rule) == context
    ]


def topic_rule(scope: Construct, rule: dict[str, Any], queues: dict[str, sqs.Queue]) -> iot.CfnTopicRule:
    """One iot_rules/*.json rule; its role may send only to the queues the rule names."""
    targets = [_sqs_target(rule["name"], action) for action in rule["actions"]]
    error_target = _sqs_target(rule["name"], rule["errorAction"])
    used = [queues[name] for name in dict.fromkeys([*targets, error_target])]
    role = iam.Role(
        scope,
        f"{rule['name']}-role",
        assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
        description=f"IoT rule {rule['name']}: send to its queues only",
    )
    send = iam.Policy(
        scope,
        f"{rule['name']}-send",
        roles=[role],
        statements=[iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn for queue in used])],
    )

    def sqs_action(queue: str) -> iot.CfnTopicRule.ActionProperty:
        return iot.CfnTopicRule.ActionProperty(
            sqs=iot.CfnTopicRule.SqsActionProperty(
                queue_url=queues[queue].queue_url,
                role_arn=role.role_arn,
                use_base64=False,
            )
        )

    created = iot.CfnTopicRule(
        scope,
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
    created.node.add_dependency(send)
    return created


def _sqs_target(rule_name: str, action: dict[str, Any]) -> str:
    """The queue of a rule action; only SQS actions exist today, anything else must fail the synth."""
    if set(action) != {"sqs"}:
        raise NotImplementedError(f"IoT rule {rule_name}: infra_cdk maps only sqs actions, not {sorted(action)}")
    queue = str(action["sqs"]["queue"])
    if queue not in {spec.name for spec in resources.QUEUES}:
        raise ValueError(f"IoT rule {rule_name} sends to '{queue}', which is not in resources.QUEUES")
    return queue


def alarm_on_messages(scope: Construct, construct_id: str, queue: sqs.Queue, description: str) -> cloudwatch.Alarm:
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


def put_events_statement(stack: Stack, sid: str) -> iam.PolicyStatement:
    """`events:PutEvents` on the account's default event bus only: how a context publishes its domain
    events (docs/events.md). `sid` names what is published, e.g. `PublishMarketEvents`."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["events:PutEvents"],
        resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
    )
