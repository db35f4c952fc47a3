"""Alerts: alert rules, the alert lifecycle, reminders and escalation (docs/alerts.md)."""
