"""Notifications context (docs/notifications.md, docs/decisions/0018-notifications.md): its tables, the
notifications API function, the notifier, the delivery worker, live pushes, and the WebSocket API.

Alert events (EventBridge, docs/events.md) reach `notifications-events` and settlement events
`notifications-settlement`; the notifier (one function per queue) writes the inbox and fans out one message per
(recipient, channel) to `notification-deliveries`, whose worker sends email (SES), SMS and
push (SNS) or pushes over the WebSocket API; device data (`ReadingsAccepted`, `DeviceStatusChanged`,
`CommandUpdated`) reaches `notifications-live`. Every queue has a DLQ and alarms (infra_cdk.messaging).

The SNS platform applications hold FCM/APNs credentials, so they are made outside the template and named by CDK
context (`push_fcm_application_arn`, `push_apns_application_arn`); without them push-token registration answers
503. Grants are the calls each function makes: ManageConnections on this WebSocket API only, SendEmail from the
platform sender only, Publish (SMS has no resource ARN, so "*"), endpoint creation/deletion on the two
applications and their endpoints, the pool's AdminGetUser/ListUsersInGroup (identity's contacts, never its tables).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, NestedStack, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ses as ses
from constructs import Construct

from gridshare.alerts.models import AlertModel
from gridshare.contexts import owned_tables
from gridshare.devices.models import DeviceModel
from gridshare.http.revocations import TokenRevocationModel
from gridshare.notifications.models import (
    ConnectionModel,
    DeliveryModel,
    InboxModel,
    PreferencesModel,
    PushTokenModel,
    SubscriptionModel,
)
from infra_cdk import messaging
from infra_cdk.constructs.alerts import alert_event_statement
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "notifications"
CTX_PUSH_FCM = "push_fcm_application_arn"
CTX_PUSH_APNS = "push_apns_application_arn"
WEBSOCKET_HANDLER = "functions.notifications.websocket.handler"
NOTIFIER = "functions.notifications.notifier.handler"
SETTLEMENT = "functions.notifications.settlement.handler"
DELIVERIES = "functions.notifications.deliveries.handler"
LIVE = "functions.notifications.live.handler"

API_TABLES = {PreferencesModel: Access.READ_WRITE, PushTokenModel: Access.READ_WRITE, InboxModel: Access.READ_WRITE}
CONSUMER_TABLES = {
    # preferences decide the channels; inbox entries are conditional puts (never read back or changed)
    NOTIFIER: {PreferencesModel: Access.READ, InboxModel: Access.APPEND},
    SETTLEMENT: {PreferencesModel: Access.READ, InboxModel: Access.APPEND},  # the same, for settlement notices
    # claims; the phone; push endpoints (a gone one is removed); alert pushes to `alerts` subscribers
    DELIVERIES: {
        DeliveryModel: Access.READ_WRITE,
        PreferencesModel: Access.READ,
        PushTokenModel: Access.READ_WRITE,
        ConnectionModel: Access.READ_WRITE,
        SubscriptionModel: Access.READ_WRITE,
    },
    LIVE: {ConnectionModel: Access.READ_WRITE, SubscriptionModel: Access.READ_WRITE},
}
# $connect stores the connection after the route guard's revocation check; subscribing to a device topic asks
# the devices service whether the caller may see the device (a read of the devices table, as sites does).
WEBSOCKET_TABLES = {ConnectionModel: Access.READ_WRITE, SubscriptionModel: Access.READ_WRITE}
WEBSOCKET_OTHER_TABLES = {DeviceModel: Access.READ, TokenRevocationModel: Access.READ, AlertModel: Access.READ_WRITE}
PUSH_ENDPOINT_ACTIONS = ("sns:CreatePlatformEndpoint", "sns:DeleteEndpoint")
CONTACT_ACTIONS = {
    NOTIFIER: ("cognito-idp:ListUsersInGroup",),  # operators
    SETTLEMENT: ("cognito-idp:ListUsersInGroup",),  # admins, told of a failed run
    DELIVERIES: ("cognito-idp:AdminGetUser",),
}


class NotificationsContext(NestedStack):
    """A nested stack: CloudFormation allows 500 resources per stack and the REST API's methods alone fill most
    of the parent's (docs/decisions/0018-notifications.md); references to the parent's resources (the layer,
    other contexts' tables, the pool) become parameters, CDK wires them."""

    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id, description="Gridshare notifications and real-time push")
        stack = Stack.of(self)
        settings = runtime.settings
        identity = built["identity"]
        self.tables = tables_for(self, owned_tables(CONTEXT))
        applications = {
            "GS_PUSH_FCM_APPLICATION_ARN": str(self.node.try_get_context(CTX_PUSH_FCM) or ""),
            "GS_PUSH_APNS_APPLICATION_ARN": str(self.node.try_get_context(CTX_PUSH_APNS) or ""),
        }

        # The sender address the platform emails from (identity's mails use the same one).
        self.email_identity = ses.EmailIdentity(self, "sender", identity=ses.Identity.email(settings.email_sender))

        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="notifications-api",
            description="Notification preferences, push tokens, the in-app inbox",
            environment={**applications, **runtime.cursor_secret_environment()},
        )
        grant_table_access(self.api_function, self.tables, API_TABLES)
        endpoint_resources = [arn for arn in applications.values() if arn] + [
            stack.format_arn(service="sns", resource="endpoint", resource_name="*")
        ]
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(sid="PushEndpoints", actions=list(PUSH_ENDPOINT_ACTIONS), resources=endpoint_resources)
        )

        # The WebSocket API: $connect verifies ?token= itself (the REST guard's check, incl. revocation).
        self.websocket_function = runtime.create_function(
            self,
            "websocket",
            handler=WEBSOCKET_HANDLER,
            service="notifications-websocket",
            description="WebSocket API routes: $connect (token), $disconnect, $default (subscribe, ping, ...)",
        )
        grant_table_access(self.websocket_function, self.tables, WEBSOCKET_TABLES)
        others = {**built["devices"].tables, **identity.tables, **built["alerts"].tables}  # type: ignore[attr-defined]
        grant_table_access(self.websocket_function, others, WEBSOCKET_OTHER_TABLES)
        # `acknowledgeAlert` runs the alerts service's acknowledge: it updates the alert and publishes AlertUpdated.
        self.websocket_function.add_to_role_policy(alert_event_statement(Stack.of(self)))
        identity.configure_token_verification(self.websocket_function)  # type: ignore[attr-defined]

        def route(name: str) -> apigwv2.WebSocketRouteOptions:
            return apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration(f"{name}-integration", self.websocket_function)
            )

        self.websocket_api = apigwv2.WebSocketApi(
            self,
            "websocket-api",
            api_name=f"{Stack.of(scope).stack_name}-realtime",
            description="Gridshare real-time push (docs/notifications.md)",
            route_selection_expression="$request.body.action",
            connect_route_options=route("connect"),
            disconnect_route_options=route("disconnect"),
            default_route_options=route("default"),
        )
        self.websocket_stage = apigwv2.WebSocketStage(
            self,
            "websocket-stage",
            web_socket_api=self.websocket_api,
            stage_name=settings.stage,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=50, burst_limit=100),
        )
        management = {"GS_WS_MANAGEMENT_ENDPOINT": self.websocket_stage.callback_url}
        self.websocket_function.add_environment("GS_WS_MANAGEMENT_ENDPOINT", self.websocket_stage.callback_url)
        self.websocket_stage.grant_management_api_access(self.websocket_function)

        # Alert and settlement events -> notifiers -> deliveries -> the delivery worker; device data -> live pushes.
        self.queues = messaging.build_queues(self, CONTEXT)
        self.event_rules = messaging.build_event_rules(self, CONTEXT, self.queues)
        self.consumers = messaging.build_consumers(self, runtime, CONTEXT, self.queues)
        pool_arn = identity.user_pool.user_pool_arn  # type: ignore[attr-defined]
        for handler, function in self.consumers.items():
            grant_table_access(function, self.tables, CONSUMER_TABLES[handler])
            if handler in CONTACT_ACTIONS:
                function.add_environment("GS_USER_POOL_ID", identity.user_pool.user_pool_id)  # type: ignore[attr-defined]
                function.add_to_role_policy(
                    iam.PolicyStatement(sid="Contacts", actions=list(CONTACT_ACTIONS[handler]), resources=[pool_arn])
                )
            if handler in (DELIVERIES, LIVE):
                for name, value in management.items():
                    function.add_environment(name, value)
                self.websocket_stage.grant_management_api_access(function)
            self._alarm_on_errors(handler, function)
        deliveries = self.consumers[DELIVERIES]
        for notifier in (self.consumers[NOTIFIER], self.consumers[SETTLEMENT]):
            notifier.add_environment("GS_DELIVERIES_QUEUE_URL", self.queues["notification-deliveries"].queue_url)
            self.queues["notification-deliveries"].grant_send_messages(notifier)
        deliveries.add_environment("GS_EMAIL_SENDER", settings.email_sender)
        deliveries.add_to_role_policy(
            iam.PolicyStatement(
                sid="SendFromPlatformSender",
                actions=["ses:SendEmail"],
                resources=[stack.format_arn(service="ses", resource="identity", resource_name="*")],
                conditions={"StringEquals": {"ses:FromAddress": settings.email_sender}},
            )
        )
        # SMS publishes name a phone number, not a resource: SNS authorizes them only on "*".
        deliveries.add_to_role_policy(iam.PolicyStatement(sid="SmsAndPush", actions=["sns:Publish"], resources=["*"]))

    def _alarm_on_errors(self, handler: str, function: lambda_.Function) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            f"{messaging.service_name(handler)}-errors",
            alarm_description=f"{handler} failed invocations (records are retried, then dead-lettered)",
            metric=function.metric_errors(period=Duration.minutes(5)),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


CONSTRUCT = NotificationsContext
