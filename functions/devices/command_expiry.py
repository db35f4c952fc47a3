"""Lambda entry point of the command expiry schedule (EventBridge Scheduler, every minute)."""

from gridshare.devices.command_events import expiry_handler as handler

__all__ = ["handler"]
