"""Devices context: the per-thing IoT policy, the devices table and the devices API function.

The policy document is iot_rules/policies/device.json (via gridshare.kernel.resources), scoped by
${iot:Connection.Thing.ThingName}: a certificate can only connect as its own thing and publish or
subscribe on its own topics.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.devices.models import DeviceModel
from gridshare.devices.service import thing_name_for
from gridshare.kernel import resources
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "devices"
MQTT_PORT = 8883  # IoT Core's MQTT over mutual TLS


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
            description="Device routes: provision (thing, certificate, policy), list, get",
            environment={
                "GS_CERT_ISSUER": "aws",
                "GS_DEVICE_POLICY_NAME": resources.DEVICE_POLICY_NAME,
                "GS_MQTT_HOST": settings.iot_endpoint,
                "GS_MQTT_PORT": str(MQTT_PORT),
                **runtime.cursor_secret_environment(),
            },
        )
        self.api_function.node.add_dependency(self.device_policy)  # provisioning attaches it by name
        grant_table_access(self.api_function, self.tables, {DeviceModel: Access.READ_WRITE})
        for statement in provisioning_statements(stack):
            self.api_function.add_to_role_policy(statement)


def provisioning_statements(stack: Stack) -> list[iam.PolicyStatement]:
    """IoT permissions of provisioning (gridshare.devices.iot), each as narrow as IAM allows.

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


CONSTRUCT = DevicesContext
