"""GridshareStack: assembles the context constructs and wires what one context gives another.

No resource is defined here: each belongs to its context's construct (DESIGN.md section 5). The stack
only checks that every table and event source in the sources of truth found an owner, and publishes
the outputs clients and operators need.
"""

from __future__ import annotations

import importlib

from aws_cdk import Annotations, CfnOutput, NestedStack, Stack
from constructs import Construct

from gridshare.contexts import CONTEXTS, all_tables, table_owners
from gridshare.kernel.resources import DEVICE_POLICY_NAME, EVENT_SOURCES
from infra_cdk import constants
from infra_cdk.constructs.api import GatewayApi
from infra_cdk.constructs.firewall import ApiFirewall
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_contexts, has_protected_routes
from infra_cdk.settings import DeploySettings
from infra_cdk.tables import logical_name

CORS_ORIGINS_ENV = "GS_CORS_ORIGINS"  # gridshare.kernel.settings.Settings.cors_origins


def check_sources_of_truth() -> None:
    """Fail the synth when a table or event source has no construct to create it."""
    owned = [model for tables in table_owners().values() for model in tables]
    unowned = [logical_name(m) for m in all_tables() if owned.count(m) != 1]
    if unowned:
        raise ValueError(f"tables not owned by exactly one context: {unowned}")
    orphans = sorted({s.handler for s in EVENT_SOURCES if s.context not in CONTEXTS})
    if orphans:
        raise ValueError(f"event sources of unknown contexts: {orphans}")


def context_construct(context: str) -> type[Construct]:
    """The construct class of a context: `CONSTRUCT` in infra_cdk/constructs/<context>.py."""
    construct: type[Construct] = importlib.import_module(f"infra_cdk.constructs.{context}").CONSTRUCT
    return construct


class GridshareStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: DeploySettings, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        check_sources_of_truth()
        self.settings = settings
        runtime = SharedRuntime(self, "shared", settings=settings)

        # In CONTEXTS order: a construct may use what an earlier one made (telemetry reads devices' table).
        self.contexts: dict[str, Construct] = {}
        for context in CONTEXTS:
            self.contexts[context] = context_construct(context)(self, context, runtime=runtime, built=self.contexts)
        self.identity = self.contexts["identity"]
        self.wallets = self.contexts["wallets"]
        api_functions = {
            context: construct.api_function  # type: ignore[attr-defined]
            for context, construct in self.contexts.items()
            if hasattr(construct, "api_function")
        }
        # Every protected route verifies the token again inside its Lambda (gridshare.http.api), so each
        # context with one needs the pool's ids, a read of users (revocation) and PutItem on security
        # events (token_refused); the identity function already owns those tables.
        for context in api_contexts():
            if context != "identity" and context in api_functions and has_protected_routes(context):
                self.identity.grant_route_guard(api_functions[context])
        # Every response names the allowed browser origin (gridshare.http.api reads GS_CORS_ORIGINS).
        if settings.cors_origins:
            for function in api_functions.values():
                function.add_environment(CORS_ORIGINS_ENV, ",".join(settings.cors_origins))
        # The REST API (a resource per path and a method per route: most of the stack's resources) is a
        # nested stack of its own, so the two together stay under CloudFormation's 500 resources per stack.
        self.api_stack = NestedStack(self, "rest-api", description="Gridshare REST API: resources and methods")
        self.api = GatewayApi(
            self.api_stack,
            "api",
            settings=settings,
            functions=api_functions,
            authorizer_function=self.identity.authorizer_function,
        )
        self.firewall = ApiFirewall(self, "firewall", stage=self.api.stage)
        self.wallets.add_webhook_alarms(self.api.rest_api, self.api.stage)

        CfnOutput(self, constants.OUTPUT_API_URL, value=self.api.url)
        CfnOutput(self, constants.OUTPUT_USER_POOL_ID, value=self.identity.user_pool.user_pool_id)
        CfnOutput(self, constants.OUTPUT_USER_POOL_CLIENT_ID, value=self.identity.user_pool_client.user_pool_client_id)
        CfnOutput(self, constants.OUTPUT_DEVICE_POLICY_NAME, value=DEVICE_POLICY_NAME)
        CfnOutput(self, constants.OUTPUT_IOT_ENDPOINT, value=settings.iot_endpoint)
        if not settings.iot_endpoint_configured:
            Annotations.of(self).add_warning_v2(
                "gridshare:iot-endpoint-placeholder",
                "No -c iot_endpoint=...: provisioned devices are told a placeholder MQTT host "
                "(aws iot describe-endpoint --endpoint-type iot:Data-ATS gives the real one).",
            )
        if not settings.email_sender_configured:
            Annotations.of(self).add_warning_v2(
                "gridshare:email-sender-placeholder",
                "No -c email_sender=...: SES refuses to send from the placeholder address.",
            )
