"""Lambda entry point of the settlement state machine's mark_failed task."""

from gridshare.settlement.handlers import mark_failed as handler

__all__ = ["handler"]
