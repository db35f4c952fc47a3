"""Lambda entry point of live pushes (SQS batches of readings, device status and command events)."""

from gridshare.notifications.entries import live_events_handler as handler

__all__ = ["handler"]
