"""Lambda entry point of the alert reminder schedule (EventBridge Scheduler, every minute)."""

from gridshare.alerts.handlers import reminders_handler as handler

__all__ = ["handler"]
