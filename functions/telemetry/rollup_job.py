"""Lambda entry point of the telemetry rollup schedule (EventBridge Scheduler, every hour; decision 0016)."""

from gridshare.telemetry.rollup_job import handler

__all__ = ["handler"]
