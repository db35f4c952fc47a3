"""Alerts context: alert rules, the alert lifecycle, reminders."""
