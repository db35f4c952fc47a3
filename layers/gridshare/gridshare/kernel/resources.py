"""What the platform's infrastructure is made of, read by both the CDK app and the local stack.

Table keys come from the context models (gridshare.contexts); IoT rules and the device policy from `iot_rules/`;
this module adds the rest (Cognito groups and password policy, queues, event sources), so that the
deployed stack and the local one are built from the same facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridshare.kernel.roles import ROLE_ORDER

REPO_ROOT = Path(__file__).resolve().parents[4]
IOT_RULES_DIR = REPO_ROOT / "iot_rules"

USER_GROUPS: tuple[tuple[str, int], ...] = tuple((role, i) for i, role in enumerate(ROLE_ORDER))
PASSWORD_POLICY: dict[str, Any] = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
    "TemporaryPasswordValidityDays": 7,
}
ACCESS_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 30


@dataclass(frozen=True)
class QueueSpec:
    name: str
    context: str = "telemetry"  # the context whose construct creates it (and the rules sending to it)
    visibility_timeout_s: int = 60
    max_receive_count: int = 5  # then the message moves to `<name>-dlq`


@dataclass(frozen=True)
class EventSource:
    """An SQS queue that feeds a function (an event source mapping on AWS; a poller locally)."""

    queue: str
    context: str
    handler: str  # dotted path of the Lambda handler
    batch_size: int = 10


@dataclass(frozen=True)
class ScheduleSpec:
    """A function run on a rate (EventBridge Scheduler on AWS; the local clock fires it locally)."""

    name: str  # the schedule's name, and the local stand-in function's
    expression: str  # rate(...) only: the local clock fires rate and at expressions
    context: str
    handler: str  # dotted path of the Lambda handler
    # > 1: one schedule per segment, all invoking the one function, each with the input
    # {"segment": i, "totalSegments": segments} (a fleet-wide job split in parallel; decision 0024)
    segments: int = 1

    def invocations(self) -> tuple[tuple[str, str], ...]:
        """(schedule name, input JSON) of each schedule of this spec: `name` with `{}`, or `name-<i>` with
        the segment's input."""
        if self.segments == 1:
            return ((self.name, "{}"),)
        return tuple(
            (f"{self.name}-{i}", json.dumps({"segment": i, "totalSegments": self.segments}))
            for i in range(self.segments)
        )


@dataclass(frozen=True)
class EventRuleSpec:
    """Domain events (EventBridge, the default bus) routed to a queue of the subscribing context.

    A context publishes events with `source` `gridshare.<context>` and a detail type; a subscriber declares
    a rule here matching sources and detail types, delivering to one of its queues (resources.QUEUES),
    which an event source (EVENT_SOURCES) consumes. On AWS an EventBridge rule with an SQS target (CDK);
    locally the same rule on moto, which delivers matching `put_events` entries to the queue.
    """

    name: str
    context: str  # the subscribing context (its construct creates the rule; the queue is its own)
    sources: tuple[str, ...]
    detail_types: tuple[str, ...]
    queue: str

    def pattern(self) -> dict[str, list[str]]:
        return {"source": list(self.sources), "detail-type": list(self.detail_types)}


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("telemetry-ingest", visibility_timeout_s=60),
    QueueSpec("telemetry-rule-errors", visibility_timeout_s=60),
    QueueSpec("device-command-acks", context="devices", visibility_timeout_s=60),
    QueueSpec("device-command-rule-errors", context="devices", visibility_timeout_s=60),
    QueueSpec("device-shadow-documents", context="devices", visibility_timeout_s=60),
    QueueSpec("device-shadow-rule-errors", context="devices", visibility_timeout_s=60),
    QueueSpec("device-heartbeats", context="devices", visibility_timeout_s=60),
    QueueSpec("device-heartbeat-rule-errors", context="devices", visibility_timeout_s=60),
    # Notifications (docs/notifications.md): alert events, then one message per delivery, and live device data.
    QueueSpec("notifications-events", context="notifications", visibility_timeout_s=60),
    # Settlement events: up to 500 parties each, so a longer function timeout (visibility / 6 = 100 s) and one
    # event per invocation, on a queue of their own so a run's fan-out never delays an alert (decision 0018).
    QueueSpec("notifications-settlement", context="notifications", visibility_timeout_s=600),
    QueueSpec("notification-deliveries", context="notifications", visibility_timeout_s=60),
    QueueSpec("notifications-live", context="notifications", visibility_timeout_s=30, max_receive_count=2),
    QueueSpec("alerts-events", context="alerts", visibility_timeout_s=60),
)
EVENT_SOURCES: tuple[EventSource, ...] = (
    EventSource("telemetry-ingest", "telemetry", "functions.telemetry.ingest.handler"),
    EventSource("device-command-acks", "devices", "functions.devices.command_acks.handler"),
    EventSource("device-shadow-documents", "devices", "functions.devices.shadow_documents.handler"),
    EventSource("device-heartbeats", "devices", "functions.devices.heartbeats.handler"),
    EventSource("notifications-events", "notifications", "functions.notifications.notifier.handler"),
    EventSource(
        "notifications-settlement", "notifications", "functions.notifications.settlement.handler", batch_size=1
    ),
    EventSource("notification-deliveries", "notifications", "functions.notifications.deliveries.handler"),
    EventSource("notifications-live", "notifications", "functions.notifications.live.handler"),
    EventSource("alerts-events", "alerts", "functions.alerts.evaluator.handler"),
)
SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec("device-command-expiry", "rate(1 minute)", "devices", "functions.devices.command_expiry.handler"),
    ScheduleSpec("device-offline-sweep", "rate(1 minute)", "devices", "functions.devices.offline_sweep.handler"),
    ScheduleSpec("market-clearing", "rate(1 minute)", "market", "functions.market.clearing.handler"),
    # Decision 0023: a settlement run for the intervals delivered more than GS_SETTLEMENT_LAG_S ago.
    ScheduleSpec("settlement-runs", "rate(15 minutes)", "settlement", "functions.settlement.scheduler.handler"),
    ScheduleSpec("alert-reminders", "rate(1 minute)", "alerts", "functions.alerts.reminders.handler"),
    # Decision 0016: stores closed telemetry hours and days recomputed from raw readings; decision 0024: in
    # parallel segments of the device registry (docs/scaling.md: 32 segments of 8 devices at once visit a
    # million devices in ~7 minutes of each hour).
    ScheduleSpec(
        "telemetry-rollups", "rate(1 hour)", "telemetry", "functions.telemetry.rollup_job.handler", segments=32
    ),
    # Decision 0024: copies each device's raw readings of a sealed day to S3 before they expire (TTL).
    ScheduleSpec(
        "telemetry-archive", "rate(1 hour)", "telemetry", "functions.telemetry.archive_job.handler", segments=4
    ),
)
# The events, their detail shapes, publishers and subscribers: docs/events.md (a contract between contexts).
EVENT_RULES: tuple[EventRuleSpec, ...] = (
    EventRuleSpec("alerts-readings", "alerts", ("gridshare.telemetry",), ("ReadingsAccepted",), "alerts-events"),
    EventRuleSpec("alerts-device-status", "alerts", ("gridshare.devices",), ("DeviceStatusChanged",), "alerts-events"),
    EventRuleSpec(
        "notifications-alert-events",
        "notifications",
        ("gridshare.alerts",),
        ("AlertOpened", "AlertUpdated", "AlertReminder", "AlertEscalated"),
        "notifications-events",
    ),
    EventRuleSpec(
        "notifications-settlement-events",
        "notifications",
        ("gridshare.settlement",),
        ("SettlementCompleted", "SettlementFailed"),
        "notifications-settlement",
    ),
    EventRuleSpec(
        "notifications-live-events",
        "notifications",
        ("gridshare.telemetry", "gridshare.devices", "gridshare.market"),
        ("ReadingsAccepted", "DeviceStatusChanged", "CommandUpdated", "TradeExecuted", "OrderUpdated"),
        "notifications-live",
    ),
)
# The optional Timestream sink (decision 0020), built only with the flag on (CDK context `timestream`,
# GS_TIMESTREAM=true for the local stack): a queue of the telemetry context subscribed to ingest's
# ReadingsAccepted events, and its consumer.
TIMESTREAM_QUEUE = QueueSpec("telemetry-timestream", context="telemetry", visibility_timeout_s=60)
TIMESTREAM_SOURCE = EventSource("telemetry-timestream", "telemetry", "functions.telemetry.timestream_sink.handler")
TIMESTREAM_RULE = EventRuleSpec(
    "telemetry-timestream", "telemetry", ("gridshare.telemetry",), ("ReadingsAccepted",), "telemetry-timestream"
)
DEVICE_POLICY_NAME = "gridshare-device"


def device_policy_document(region: str, account: str) -> dict[str, Any]:
    """The per-thing IoT policy: every resource is scoped by ${iot:Connection.Thing.ThingName}."""
    text = (IOT_RULES_DIR / "policies" / "device.json").read_text()
    document: dict[str, Any] = json.loads(text.replace("{region}", region).replace("{account}", account))
    return document


def rule_files() -> list[Path]:
    return sorted(IOT_RULES_DIR.glob("*.json"), key=lambda p: p.name)


def topic_rules() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in rule_files()]


def rule_context(rule: dict[str, Any]) -> str:
    """The context that owns a rule: the one owning the queue of its first action."""
    queue = rule["actions"][0]["sqs"]["queue"]
    return next(spec.context for spec in QUEUES if spec.name == queue)
