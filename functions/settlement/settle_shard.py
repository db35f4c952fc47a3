"""Lambda entry point of the settlement state machine's settle_shard task."""

from gridshare.settlement.handlers import settle_shard as handler

__all__ = ["handler"]
