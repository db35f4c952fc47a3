"""Lambda entry point of the telemetry archive schedule (EventBridge Scheduler, per segment; decision 0024)."""

from gridshare.telemetry.archive_job import handler

__all__ = ["handler"]
