"""Lambda entry point of the settlement state machine's finalize task."""

from gridshare.settlement.handlers import finalize as handler

__all__ = ["handler"]
