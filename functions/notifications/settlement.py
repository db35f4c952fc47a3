"""Lambda entry point of settlement notices (SQS: one SettlementCompleted or SettlementFailed event at a time)."""

from gridshare.notifications.entries import settlement_events_handler as handler

__all__ = ["handler"]
