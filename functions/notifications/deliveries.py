"""Lambda entry point of the delivery worker (SQS: one email, SMS, push or WebSocket delivery per message)."""

from gridshare.notifications.entries import deliveries_handler as handler

__all__ = ["handler"]
