"""The alert lifecycle driven by domain events: readings and device status changes -> alerts.

For each device in an event, its rules are read (its default rules are materialised first, once per
container: conditional puts of deterministic ids), and each rule folds the event's observations into the
(rule, device)'s hold (gridshare.alerts.evaluation). What the fold decides is written in one transaction
conditioned on the state read (gridshare.alerts.store.AlertStore.apply): opening, auto-resolving. Repeats of
an open alert add to its `count` with one update per (rule, device) per event. Then the events are published:
AlertOpened on open, AlertUpdated on auto-resolve and when the count reaches 2, 10, 100, ... (never per
reading). A refused transaction (another evaluator moved the state) is re-read and re-applied; observations
at or before the state's last one are ignored, so a redelivered event changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gridshare.alerts import alert_events as E
from gridshare.alerts.baseline import DEFAULT_K, QUARTER_MS, closed_quarter, history_starts, judge
from gridshare.alerts.evaluation import (
    READING_KINDS,
    Action,
    Event,
    RuleSpec,
    Value,
    breached,
    fold,
    milestone,
    observed_value,
    same_hold,
)
from gridshare.alerts.models import AlertModel, AlertRuleModel
from gridshare.alerts.rules import default_kinds, default_rule
from gridshare.alerts.store import AlertStore, RuleStore, StateConflict, hold_of, state_key
from gridshare.alerts.views import alert_view, describe
from gridshare.kernel.clock import now_ms, parse_time
from gridshare.kernel.ids import new_id
from gridshare.kernel.settings import get_settings

logger = logging.getLogger("gridshare.alerts.lifecycle")

MAX_CONFLICTS = 5
SITE_TTL_S = 60.0  # a device moved to another site is evaluated against that site's rules within a minute
BASELINE_RULES_PER_RUN = 500  # each reads one device's week of 15-minute rollups (~700 buckets, one query)


def spec_of(rule: AlertRuleModel) -> RuleSpec:
    return RuleSpec(
        kind=rule.kind,
        metric=rule.metric,
        operator=rule.operator,
        threshold=float(rule.threshold) if rule.threshold is not None else None,
        for_s=int(rule.for_s),
    )


def _site_of(device_id: str) -> str | None:
    """The site a device is on (the sites service; a read-only grant, decision 0017)."""
    from gridshare.sites.service import sites_service

    site: str | None = sites_service().placement(device_id)["siteId"]
    return site


@dataclass
class Evaluator:
    rules: RuleStore = field(default_factory=RuleStore)
    alerts: AlertStore = field(default_factory=AlertStore)
    publisher: E.AlertPublisher = field(default_factory=E.EventBridgeAlertPublisher)
    site_of: Callable[[str], str | None] = _site_of
    clock: Callable[[], int] = now_ms
    _materialised: set[str] = field(default_factory=set)
    _sites: dict[str, tuple[str | None, float]] = field(default_factory=dict)

    # ------------------------------------------------------------ events in
    def readings_accepted(self, detail: dict[str, Any]) -> int:
        """ReadingsAccepted: every reading against its device's reading rules; the evaluations made."""
        by_device: dict[str, list[dict[str, Any]]] = {}
        for reading in detail.get("readings") or []:
            by_device.setdefault(str(reading["deviceId"]), []).append(reading)
        evaluations = 0
        for device_id, readings in by_device.items():
            first = readings[0]
            rules = self.rules_of(
                device_id, str(first.get("deviceType") or ""), str(first.get("ownerId") or ""), first.get("siteId")
            )
            for rule in rules:
                if rule.kind not in READING_KINDS:
                    continue
                spec = spec_of(rule)
                observations: list[tuple[int, bool, Value | None]] = []
                for reading in readings:
                    value = observed_value(spec, reading.get("metrics") or {})
                    if value is not None:
                        observations.append((parse_time(str(reading["ts"])), breached(spec, value), value))
                evaluations += len(observations)
                if observations:
                    self.apply(rule, device_id, observations)
        return evaluations

    def status_changed(self, detail: dict[str, Any]) -> int:
        """DeviceStatusChanged: offline opens the device's offline alerts, back online resolves them."""
        device_id = str(detail["deviceId"])
        at = parse_time(str(detail["at"]))
        offline = detail.get("status") == "offline"
        evaluations = 0
        for rule in self.rules_of(device_id, str(detail.get("type") or ""), str(detail.get("ownerId") or ""), None):
            if rule.kind == "offline":
                self.apply(rule, device_id, [(at, offline, None)])
                evaluations += 1
        return evaluations

    def baselines(self, now: int, limit: int = BASELINE_RULES_PER_RUN) -> int:
        """The closed quarter-hour of every generation_drop / consumption_spike rule against the same
        quarter-hour on the previous 7 days (gridshare.alerts.baseline), once per quarter (a claimed marker);
        the rules judged. Rollups come from the telemetry service, never its tables."""
        quarter = closed_quarter(now)
        if not self.rules.claim(f"baseline#{quarter}"):
            return 0
        from gridshare.telemetry.service import telemetry_service

        telemetry = telemetry_service()
        judged = 0
        for rule in self.rules.baseline_rules(limit):
            if rule.device_id is None or rule.metric is None:
                continue
            starts = history_starts(quarter)
            buckets = telemetry.energy_buckets(rule.device_id, "15m", starts[0], quarter + QUARTER_MS)
            current = buckets.get(quarter, {}).get(rule.metric)
            history = [float(buckets[s][rule.metric]) for s in starts if rule.metric in buckets.get(s, {})]
            k = float(rule.threshold) if rule.threshold is not None else DEFAULT_K
            verdict = judge(rule.kind, float(current), history, k) if current is not None else None
            if verdict is None:
                continue
            judged += 1
            self.apply(rule, rule.device_id, [(quarter + QUARTER_MS, verdict.breach, current)])
        return judged

    # ------------------------------------------------------------ rules of a device
    def rules_of(self, device_id: str, device_type: str, owner_id: str, site_id: str | None) -> list[AlertRuleModel]:
        """The device's rules and its site's; its default rules exist once this returns."""
        if device_id not in self._materialised and device_type and owner_id:
            self.materialise_defaults(device_id, device_type, owner_id)
        rules = self.rules.for_device(device_id)
        site = site_id if site_id is not None else self._site(device_id)
        if site is not None:
            rules += self.rules.for_site(site)
        return rules

    def materialise_defaults(self, device_id: str, device_type: str, owner_id: str) -> None:
        """Put the device's default rules if absent (idempotent; an edited or deleted one is left alone)."""
        materialise_defaults(self.rules, device_id, device_type, owner_id, self.clock())
        self._materialised.add(device_id)

    def _site(self, device_id: str) -> str | None:
        cached = self._sites.get(device_id)
        if cached is None or time.monotonic() - cached[1] > SITE_TTL_S:
            cached = self._sites[device_id] = (self.site_of(device_id), time.monotonic())
        return cached[0]

    # ------------------------------------------------------------ one (rule, device)
    def apply(self, rule: AlertRuleModel, device_id: str, observations: list[tuple[int, bool, Value | None]]) -> None:
        for _ in range(MAX_CONFLICTS):
            try:
                self._apply_once(rule, device_id, observations)
                return
            except StateConflict:
                continue
        raise RuntimeError(f"alert state of {state_key(rule.id, device_id)} kept changing")

    def _apply_once(
        self, rule: AlertRuleModel, device_id: str, observations: list[tuple[int, bool, Value | None]]
    ) -> None:
        read = self.alerts.state(rule.id, device_id)
        before = hold_of(read)
        hold, events = fold(spec_of(rule), before, observations)
        if not events and same_hold(hold, before):
            return
        open_id = read.open_alert_id if read is not None else None
        now = self.clock()
        created: list[AlertModel] = []
        current: AlertModel | None = None
        resolve: tuple[str, int] | None = None
        repeats: list[Event] = []
        for event in events:
            if event.action is Action.OPEN:
                current = self._new_alert(rule, device_id, event, now)
                created.append(current)
            elif event.action is Action.REPEAT:
                if current is not None:
                    current.count = int(current.count) + 1
                    current.last_value = event.value
                else:
                    repeats.append(event)
            elif current is not None:  # RESOLVE of an alert opened in this run
                _mark_resolved(current, event.at)
                current = None
            elif open_id is not None:
                resolve = (open_id, event.at)
                open_id = None
        if current is not None:
            open_id = current.id
        self.alerts.apply(state_key(rule.id, device_id), read, hold, open_id, created, resolve)
        self._published(rule, created, resolve, repeats, read.open_alert_id if read is not None else None, now)

    def _new_alert(self, rule: AlertRuleModel, device_id: str, event: Event, now: int) -> AlertModel:
        title, message = describe(rule, device_id, event.value)
        alert = AlertModel(
            id=new_id(),
            rule_id=rule.id,
            device_id=device_id,
            site_id=rule.site_id or self._sites.get(device_id, (None, 0.0))[0],
            owner_id=rule.owner_id,
            kind=rule.kind,
            severity=rule.severity,
            status="open",
            title=title,
            message=message,
            metric="leak" if rule.kind == "leak" else rule.metric,
            count=1,
            last_value=event.value,
            channels=list(rule.channels),
            opened_at=event.at,
            updated_at=now,
            acknowledged=False,
            resolved=False,
            reminders=0,
            escalated=False,
        )
        if rule.severity == "critical":
            alert.remind = "due"
            alert.next_reminder_at = now + reminder_every_s() * 1000
        return alert

    def _published(
        self,
        rule: AlertRuleModel,
        created: Iterable[AlertModel],
        resolve: tuple[str, int] | None,
        repeats: list[Event],
        was_open: str | None,
        now: int,
    ) -> None:
        entries: list[dict[str, Any]] = []
        for alert in created:
            entries.append(E.alert_event(E.OPENED, alert_view(alert), list(alert.channels), "opened"))
            if alert.resolved:
                entries.append(E.alert_event(E.UPDATED, alert_view(alert), list(alert.channels), "updated-resolved"))
        if repeats and was_open is not None and (resolve is None or resolve[0] != was_open):
            last = repeats[-1]
            after = self.alerts.repeat(was_open, len(repeats), last.value, now)
            if after is not None:
                reached = milestone(int(after.count) - len(repeats), int(after.count))
                if reached is not None:
                    entries.append(
                        E.alert_event(E.UPDATED, alert_view(after), list(after.channels), f"updated-count-{reached}")
                    )
        if resolve is not None:
            resolved = self.alerts.get(resolve[0])
            if resolved is not None:
                entries.append(
                    E.alert_event(E.UPDATED, alert_view(resolved), list(resolved.channels), "updated-resolved")
                )
        if entries:
            self.publisher.publish(entries)


def materialise_defaults(rules: RuleStore, device_id: str, device_type: str, owner_id: str, at: int) -> None:
    """Conditional puts of the device's default rules (deterministic ids): the evaluator calls it when it
    first sees a device, the rules API when an owner lists or reads a device's rules."""
    for kind in default_kinds(device_type):
        fields = default_rule(kind, device_id, device_type)
        rules.put_new(AlertRuleModel(owner_id=owner_id, created_at=at, updated_at=at, **fields))


def _mark_resolved(alert: AlertModel, at: int) -> None:
    alert.status = "resolved"
    alert.resolved = True
    alert.resolved_at = at
    alert.resolved_by = "auto"
    alert.remind = None
    alert.next_reminder_at = None


def reminder_every_s() -> int:
    return get_settings().alert_reminder_every_s
