"""Lambda entry point of the notifier (SQS batches of alert events from EventBridge)."""

from gridshare.notifications.entries import alert_events_handler as handler

__all__ = ["handler"]
