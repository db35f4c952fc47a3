"""Lambda entry point of the settlement-runs schedule (EventBridge Scheduler, every 15 minutes)."""

from gridshare.settlement.handlers import scheduler as handler

__all__ = ["handler"]
