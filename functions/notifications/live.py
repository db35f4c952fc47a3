"""Lambda entry point of live pushes (SQS batches of readings, device status, command, trade and order events)."""

from gridshare.notifications.entries import live_events_handler as handler

__all__ = ["handler"]
