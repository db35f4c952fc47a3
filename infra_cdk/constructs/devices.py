"""Devices context: the per-thing IoT policy, the devices and commands tables, the devices API function,
and the command path (docs/devices.md): the commands-ack rule and its queues, the ack consumer, and the
expiry schedule.

The policy document is iot_rules/policies/device.json (via gridshare.kernel.resources), scoped by
${iot:Connection.Thing.ThingName}: a certificate can only connect as its own thing and publish or
subscribe on its own topics and its own classic shadow. The API function may publish only on devices'
command topics and read/update only the platform's things' shadows.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.devices.dead_letters import DeviceDeadLetterModel
from gridshare.devices.models import (
    CertificateModel,
    CommandModel,
    DeviceModel,
    StatusChangeModel,
    StatusCountModel,
)
from gridshare.devices.service import thing_name_for
from gridshare.kernel import resources
from infra_cdk import messaging
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "devices"
MQTT_PORT = 8883  # IoT Core's MQTT over mutual TLS
# What each function's code touches: the API provisions devices and issues/reads commands; the ack
# consumer resolves the sender by thing name and settles its command; the expiry schedule settles commands.
# Health (docs/decisions/0012-device-health.md): whatever notes a device was seen (heartbeats, telemetry
# ingest) or marks it offline updates the device item, appends a status-history row and moves two counts.
# Certificate rows are history (revoked ones kept): the API reads and puts them, and never deletes one.
API_TABLES = {
    DeviceModel: Access.READ_WRITE,
    CommandModel: Access.READ_WRITE,
    StatusChangeModel: Access.READ,  # GET .../status-history
    StatusCountModel: Access.READ_WRITE,  # provisioning counts the new device; GET /v1/devices/stats
    CertificateModel: Access.READ_APPEND,
    DeviceDeadLetterModel: Access.READ,  # GET /v1/devices/dead-letters
}
# Malformed acks are appended to the dead letters (PutItem only).
ACK_TABLES = {DeviceModel: Access.READ, CommandModel: Access.READ_WRITE, DeviceDeadLetterModel: Access.APPEND}
# The shadow-documents consumer keeps the reported firmware version on the device record.
SHADOW_DOCUMENTS_TABLES = {DeviceModel: Access.READ_WRITE}
# The expiry schedule reads the device's owner to announce a timed-out command (CommandUpdated).
EXPIRY_TABLES = {CommandModel: Access.READ_WRITE, DeviceModel: Access.READ}
HEALTH_TABLES = {
    DeviceModel: Access.READ_WRITE,
    StatusChangeModel: Access.APPEND,
    StatusCountModel: Access.READ_WRITE,
}
CONSUMER_TABLES = {
    "functions.devices.command_acks.handler": ACK_TABLES,
    "functions.devices.heartbeats.handler": HEALTH_TABLES,
    "functions.devices.shadow_documents.handler": SHADOW_DOCUMENTS_TABLES,
}
SCHEDULE_TABLES = {
    "functions.devices.command_expiry.handler": EXPIRY_TABLES,
    "functions.devices.offline_sweep.handler": HEALTH_TABLES,
}
PUBLISHES_STATUS_EVENTS = {"functions.devices.heartbeats.handler", "functions.devices.offline_sweep.handler"}
# Command state changes go on the bus as CommandUpdated (gridshare.devices.command_updates, docs/events.md).
PUBLISHES_COMMAND_EVENTS = {"functions.devices.command_acks.handler", "functions.devices.command_expiry.handler"}


class DevicesContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        settings = runtime.settings
        stack = Stack.of(self)
        self.tables = tables_for(self, owned_tables(CONTEXT))

        # Region and account are deploy-time tokens: the document is rendered for wherever it lands.
        self.device_policy = iot.CfnPolicy(
            self,
            "device-policy",
            policy_name=resources.DEVICE_POLICY_NAME,
            policy_document=resources.device_policy_document(stack.region, stack.account),
        )

        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="devices-api",
            description="Device routes: provision, certificates, decommission; commands; config (shadow)",
            environment={
                "GS_CERT_ISSUER": "aws",
                "GS_DEVICE_POLICY_NAME": resources.DEVICE_POLICY_NAME,
                "GS_MQTT_HOST": settings.iot_endpoint,
                "GS_MQTT_PORT": str(MQTT_PORT),
                # The account's ATS data endpoint (the MQTT host): commands are published through it.
                "GS_IOT_DATA_ENDPOINT": f"https://{settings.iot_endpoint}",
                **runtime.cursor_secret_environment(),
            },
        )
        self.api_function.node.add_dependency(self.device_policy)  # provisioning attaches it by name
        grant_table_access(self.api_function, self.tables, API_TABLES)
        for statement in [*provisioning_statements(stack), command_publish_statement(stack), shadow_statement(stack)]:
            self.api_function.add_to_role_policy(statement)
        self.api_function.add_to_role_policy(command_event_statement(stack))  # a command never published fails

        # Acks: gs/v1/{thing}/commands/ack -> the commands-ack rule -> SQS (+DLQ) -> the ack consumer; shadow
        # documents ($aws/things/+/shadow/update/documents) the same way to the firmware-version consumer.
        self.queues = messaging.build_queues(self, CONTEXT)
        self.topic_rules = messaging.build_topic_rules(self, CONTEXT, self.queues)
        self.consumers = messaging.build_consumers(self, runtime, CONTEXT, self.queues)
        for handler, function in self.consumers.items():
            grant_table_access(function, self.tables, CONSUMER_TABLES[handler])
            if handler in PUBLISHES_STATUS_EVENTS:
                function.add_to_role_policy(status_event_statement(stack))
            if handler in PUBLISHES_COMMAND_EVENTS:
                function.add_to_role_policy(command_event_statement(stack))

        # Unanswered commands time out: a rate schedule runs the expiry function.
        self.scheduled = {
            spec.name: self._schedule(runtime, spec) for spec in resources.SCHEDULES if spec.context == CONTEXT
        }

    def _schedule(self, runtime: SharedRuntime, spec: resources.ScheduleSpec) -> scheduler.CfnSchedule:
        function, schedule = messaging.build_schedule(self, runtime, spec)
        grant_table_access(function, self.tables, SCHEDULE_TABLES[spec.handler])
        if spec.handler in PUBLISHES_STATUS_EVENTS:
            function.add_to_role_policy(status_event_statement(Stack.of(self)))
        if spec.handler in PUBLISHES_COMMAND_EVENTS:
            function.add_to_role_policy(command_event_statement(Stack.of(self)))
        return schedule


def provisioning_statements(stack: Stack) -> list[iam.PolicyStatement]:
    """IoT permissions of provisioning, rotation, revocation and decommissioning (gridshare.devices.iot),
    each as narrow as IAM allows: revoking is UpdateCertificate + DetachPolicy + DetachThingPrincipal on
    the certificate, decommissioning adds DeleteThing on the platform's things; nothing reads IoT back
    (the certificates table is the record), so no Describe/List action is granted.

    Things are limited to the platform's name prefix (services.devices.thing_name_for). Certificate
    ids are chosen by IoT, so certificate actions take cert/*. CreateKeysAndCertificate and
    CreateCertificateFromCsr support no resource-level permission at all. IAM evaluates Attach/
    DetachPolicy against the *target* (the certificate), not the policy: see infra_cdk/README.md.
    """
    thing_prefix = thing_name_for("")
    things = stack.format_arn(service="iot", resource="thing", resource_name=f"{thing_prefix}*")
    certificates = stack.format_arn(service="iot", resource="cert", resource_name="*")
    return [
        iam.PolicyStatement(
            sid="PlatformThings",
            actions=["iot:CreateThing", "iot:DeleteThing"],
            resources=[things],
        ),
        iam.PolicyStatement(
            sid="IssueCertificates",
            actions=["iot:CreateKeysAndCertificate", "iot:CreateCertificateFromCsr"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="ManageCertificates",
            actions=["iot:UpdateCertificate", "iot:DeleteCertificate"],
            resources=[certificates],
        ),
        iam.PolicyStatement(
            sid="BindThingToCertificate",
            actions=["iot:AttachThingPrincipal", "iot:DetachThingPrincipal"],
            resources=[things, certificates],
        ),
        iam.PolicyStatement(
            sid="AttachDevicePolicyToCertificates",
            actions=["iot:AttachPolicy", "iot:DetachPolicy"],
            resources=[certificates],
        ),
    ]


def command_publish_statement(stack: Stack) -> iam.PolicyStatement:
    """The API publishes commands (gridshare.devices.iot.IotDataPublisher) on devices' command topics only."""
    return iam.PolicyStatement(
        sid="PublishCommands",
        actions=["iot:Publish"],
        resources=[stack.format_arn(service="iot", resource="topic", resource_name="gs/v1/*/commands")],
    )


def shadow_statement(stack: Stack) -> iam.PolicyStatement:
    """The API reads devices' classic shadows and writes their desired state (gridshare.devices.shadow),
    on the platform's things only (shadow actions are authorised on the thing's ARN)."""
    return iam.PolicyStatement(
        sid="DeviceShadows",
        actions=["iot:GetThingShadow", "iot:UpdateThingShadow"],
        resources=[stack.format_arn(service="iot", resource="thing", resource_name=f"{thing_name_for('')}*")],
    )


def status_event_statement(stack: Stack) -> iam.PolicyStatement:
    """Device status changes go to the account's default event bus (gridshare.devices.status_events)."""
    return messaging.put_events_statement(stack, "PublishDeviceStatusEvents")


def command_event_statement(stack: Stack) -> iam.PolicyStatement:
    """Command state changes go to the account's default event bus (gridshare.devices.command_updates)."""
    return messaging.put_events_statement(stack, "PublishCommandEvents")


def grant_health_writes(function: lambda_.Function, devices_tables: Mapping[str, dynamodb.Table]) -> None:
    """What noting a device was seen needs (gridshare.devices.service.note_seen), for another context's
    function that calls it in-process: telemetry ingest (docs/decisions/0012-device-health.md)."""
    grant_table_access(function, devices_tables, HEALTH_TABLES)
    function.add_to_role_policy(status_event_statement(Stack.of(function)))


CONSTRUCT = DevicesContext
