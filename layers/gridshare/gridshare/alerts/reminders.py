"""Reminders and escalation of critical alerts nobody acknowledges (the `alert-reminders` schedule, every
minute).

A critical alert is opened with `remind` = "due" and `next_reminder_at` = opened + reminderEveryS; the
schedule reads only what is due from the sparse DueReminders index (at most `limit` per run, earliest
first), sends AlertReminder (occurrence `reminder-<n>`, audience the owner) up to `alert_max_reminders`
times, every `alert_reminder_every_s`, then AlertEscalated once (audience `operators`) and drops out of the
index. Acknowledging or resolving drops it too. Each step is an update conditioned on the reminder count
read, so overlapping runs send each reminder once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gridshare.alerts import alert_events as E
from gridshare.alerts.evaluation import next_reminder
from gridshare.alerts.store import AlertStore
from gridshare.alerts.views import alert_view
from gridshare.kernel.clock import now_ms
from gridshare.kernel.settings import get_settings

RUN_LIMIT = 100  # alerts handled per run; the rest are still due on the next run, a minute later


@dataclass
class Reminders:
    alerts: AlertStore = field(default_factory=AlertStore)
    publisher: E.AlertPublisher = field(default_factory=E.EventBridgeAlertPublisher)
    clock: Callable[[], int] = now_ms

    def run(self, limit: int = RUN_LIMIT) -> dict[str, int]:
        settings = get_settings()
        now = self.clock()
        sent = {"reminders": 0, "escalations": 0}
        entries = []
        for alert_id in self.alerts.due(now, limit):
            alert = self.alerts.get(alert_id)
            if alert is None or alert.status != "open":
                continue
            step = next_reminder(
                int(alert.reminders), now, settings.alert_reminder_every_s, settings.alert_max_reminders
            )
            if not self.alerts.remind(alert, step.number, step.next_at):
                continue
            fresh = self.alerts.get(alert_id) or alert
            if step.remind:
                sent["reminders"] += 1
                entries.append(
                    E.alert_event(E.REMINDER, alert_view(fresh), list(fresh.channels), f"reminder-{step.number}")
                )
            else:
                sent["escalations"] += 1
                entries.append(
                    E.alert_event(
                        E.ESCALATED, alert_view(fresh), list(fresh.channels), "escalated", audience="operators"
                    )
                )
        if entries:
            self.publisher.publish(entries)
        return sent
