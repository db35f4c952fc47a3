"""Alerts context (docs/alerts.md, decision 0017): the rules, states and alerts tables, the alerts API
function, the evaluator behind the `alerts-events` queue (with its DLQ and alarm) that the EventBridge rules
`alerts-readings` (ReadingsAccepted) and `alerts-device-status` (DeviceStatusChanged) feed, and the reminder
schedule.

Grants, as narrow as the code's reach (other contexts only through their services):
- the API reads the devices table (`DeviceService.get_owned` / `list`: a rule's device is the caller's) and
  the sites table (`SitesService.get`: a rule's site is the caller's), both read only;
- the evaluator reads the site-devices table (`SitesService.placement`: which site's rules apply), read only;
- the schedule reads the telemetry rollups (`TelemetryService.energy_buckets`: baseline rules), read only;
- every alerts function may put events on the default bus (alert events), nothing else of EventBridge.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from gridshare.alerts.models import AlertModel, AlertRuleModel, AlertStateModel
from gridshare.contexts import owned_tables
from gridshare.devices.models import DeviceModel
from gridshare.kernel import resources
from gridshare.sites.models import SiteDeviceModel, SiteModel
from gridshare.telemetry.models import RollupModel
from infra_cdk import messaging
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "alerts"
EVALUATOR = "functions.alerts.evaluator.handler"
REMINDERS = "functions.alerts.reminders.handler"

API_TABLES = {
    AlertRuleModel: Access.READ_WRITE,
    AlertStateModel: Access.READ_WRITE,  # a manual resolve closes the (rule, device)'s state
    AlertModel: Access.READ_WRITE,
    DeviceModel: Access.READ,
    SiteModel: Access.READ,
}
EVALUATOR_TABLES = {
    AlertRuleModel: Access.READ_WRITE,  # materialises default rules (conditional puts)
    AlertStateModel: Access.READ_WRITE,
    AlertModel: Access.READ_WRITE,
    SiteDeviceModel: Access.READ,
}
# The every-minute schedule: reminders, and once per quarter-hour the baseline rules (their 15-minute rollups
# through the telemetry service: read only; their alerts through the lifecycle).
SCHEDULE_TABLES = {
    AlertModel: Access.READ_WRITE,
    AlertRuleModel: Access.READ,
    AlertStateModel: Access.READ_WRITE,
    RollupModel: Access.READ,
}


class AlertsContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        others: dict[str, dynamodb.Table] = {}
        for context in ("devices", "sites", "telemetry"):
            others.update(built[context].tables)  # type: ignore[attr-defined]
        tables = {**self.tables, **others}

        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="alerts-api",
            description="Alert rules and alerts: list, read, acknowledge, resolve; test notifications",
            environment=runtime.cursor_secret_environment(),
        )
        grant_table_access(self.api_function, tables, API_TABLES)
        self.api_function.add_to_role_policy(alert_event_statement(Stack.of(self)))

        self.queues = messaging.build_queues(self, CONTEXT)
        self.event_rules = messaging.build_event_rules(self, CONTEXT, self.queues)
        self.consumers = messaging.build_consumers(self, runtime, CONTEXT, self.queues)
        evaluator = self.consumers[EVALUATOR]
        grant_table_access(evaluator, tables, EVALUATOR_TABLES)
        evaluator.add_to_role_policy(alert_event_statement(Stack.of(self)))

        self.scheduled = {
            spec.name: self._schedule(runtime, spec, tables) for spec in resources.SCHEDULES if spec.context == CONTEXT
        }

    def _schedule(
        self, runtime: SharedRuntime, spec: resources.ScheduleSpec, tables: Mapping[str, dynamodb.Table]
    ) -> scheduler.CfnSchedule:
        function, schedule = messaging.build_schedule(self, runtime, spec)
        grant_table_access(function, tables, SCHEDULE_TABLES)
        function.add_to_role_policy(alert_event_statement(Stack.of(self)))
        return schedule


def alert_event_statement(stack: Stack) -> iam.PolicyStatement:
    """Alert events go to the account's default event bus (gridshare.alerts.alert_events)."""
    return messaging.put_events_statement(stack, "PublishAlertEvents")


CONSTRUCT = AlertsContext
