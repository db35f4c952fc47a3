"""The alerts context's tables: alert rules, the evaluation state per (rule, device), and alerts."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class RulesByOwner(GlobalSecondaryIndex["AlertRuleModel"]):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class RulesByDevice(GlobalSecondaryIndex["AlertRuleModel"]):
    """Sparse: rules naming a device (the evaluator reads a device's rules with one query)."""

    class Meta:
        index_name = "by_device"
        projection = AllProjection()

    device_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class RulesBySite(GlobalSecondaryIndex["AlertRuleModel"]):
    """Sparse: rules naming a site (they apply to every device on it)."""

    class Meta:
        index_name = "by_site"
        projection = AllProjection()

    site_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class BaselineRules(GlobalSecondaryIndex["AlertRuleModel"]):
    """Sparse: only generation_drop / consumption_spike rules carry `baseline` ("yes"): the alerts schedule
    reads just those each quarter-hour."""

    class Meta:
        index_name = "baseline_rules"
        projection = AllProjection()

    baseline = UnicodeAttribute(hash_key=True)  # "yes"
    id = UnicodeAttribute(range_key=True)


class AlertRuleModel(Model):
    """An alert rule (gridshare.alerts.rules). Default rules have deterministic ids (`leak-<deviceId>`,
    `offline-<deviceId>`, gridshare.alerts.rules.default_rule_id) and `default_of` = their kind; a deleted
    default rule stays as a tombstone (`deleted_at`) so it is not materialised again."""

    class Meta(TableMeta):
        logical_name = "alert_rules"

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    device_id = UnicodeAttribute(null=True)
    site_id = UnicodeAttribute(null=True)
    kind = UnicodeAttribute()
    metric = UnicodeAttribute(null=True)
    operator = UnicodeAttribute(null=True)
    threshold = NumberAttribute(null=True)
    for_s = NumberAttribute(default=0)
    severity = UnicodeAttribute()
    channels = ListAttribute(of=UnicodeAttribute)
    default_of = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    deleted_at = NumberAttribute(null=True)
    baseline = UnicodeAttribute(null=True)  # "yes" on generation_drop / consumption_spike rules (BaselineRules)
    by_owner = RulesByOwner()
    by_device = RulesByDevice()
    by_site = RulesBySite()
    baseline_rules = BaselineRules()


class AlertStateModel(Model):
    """The evaluation state of one (rule, device) (gridshare.alerts.evaluation.Hold) and its open alert.
    `key` = "<ruleId>#<deviceId>"; every write is conditioned on `version`, so two evaluators racing on
    one (rule, device) cannot both open an alert: the loser re-reads and re-applies its observations."""

    class Meta(TableMeta):
        logical_name = "alert_states"

    key = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(default=0)
    breach_since = NumberAttribute(null=True)
    clear_since = NumberAttribute(null=True)
    last_at = NumberAttribute(null=True)
    open_alert_id = UnicodeAttribute(null=True)


class AlertsByOwner(GlobalSecondaryIndex["AlertModel"]):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class AlertsByDevice(GlobalSecondaryIndex["AlertModel"]):
    class Meta:
        index_name = "by_device"
        projection = AllProjection()

    device_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class AlertsByStatus(GlobalSecondaryIndex["AlertModel"]):
    """Admins' and operators' `GET /v1/alerts?status=` without scanning every alert."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class DueReminders(GlobalSecondaryIndex["AlertModel"]):
    """Sparse: only critical alerts that are open and unacknowledged and not yet escalated carry `remind`,
    keyed by when the next reminder (or the escalation) is due, earliest first: the schedule reads only
    what is due. One partition ("due"); shard the key if reminders outgrow one partition's throughput."""

    class Meta:
        index_name = "due_reminders"
        projection = KeysOnlyProjection()

    remind = UnicodeAttribute(hash_key=True)
    next_reminder_at = NumberAttribute(range_key=True)


class AlertModel(Model):
    """An alert (gridshare.alerts.service.alert_view); ids are ULIDs, so lists sort newest first."""

    class Meta(TableMeta):
        logical_name = "alerts"

    id = UnicodeAttribute(hash_key=True)
    rule_id = UnicodeAttribute()
    device_id = UnicodeAttribute()
    site_id = UnicodeAttribute(null=True)
    node_id = UnicodeAttribute(null=True)
    owner_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    severity = UnicodeAttribute()
    status = UnicodeAttribute()  # open | acknowledged | resolved
    title = UnicodeAttribute()
    message = UnicodeAttribute()
    metric = UnicodeAttribute(null=True)
    count = NumberAttribute(default=1)
    last_value = JSONAttribute(null=True)
    channels = ListAttribute(of=UnicodeAttribute)
    opened_at = NumberAttribute()
    updated_at = NumberAttribute()
    acknowledged = BooleanAttribute(default=False)
    acknowledged_by = UnicodeAttribute(null=True)
    acknowledged_at = NumberAttribute(null=True)
    note = UnicodeAttribute(null=True)
    resolved = BooleanAttribute(default=False)
    resolved_at = NumberAttribute(null=True)
    resolved_by = UnicodeAttribute(null=True)  # a user id, or "auto"
    reminders = NumberAttribute(default=0)
    escalated = BooleanAttribute(default=False)
    remind = UnicodeAttribute(null=True)  # "due" while reminders are due (DueReminders)
    next_reminder_at = NumberAttribute(null=True)
    by_owner = AlertsByOwner()
    by_device = AlertsByDevice()
    by_status = AlertsByStatus()
    due_reminders = DueReminders()


TABLES: tuple[type[Model], ...] = (AlertRuleModel, AlertStateModel, AlertModel)
