"""Lambda entry point of the market clearing schedule (EventBridge Scheduler, every minute)."""

from gridshare.market.events import clearing_handler as handler

__all__ = ["handler"]
