"""Lambda entry point of the offline schedule (EventBridge Scheduler, every minute)."""

from gridshare.devices.health_events import sweep_handler as handler

__all__ = ["handler"]
