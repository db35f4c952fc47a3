"""Lambda entry point of the settlement state machine's prepare task."""

from gridshare.settlement.handlers import prepare as handler

__all__ = ["handler"]
