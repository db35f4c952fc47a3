"""Lambda entry point of device heartbeats (SQS batches from the heartbeat IoT rule)."""

from gridshare.devices.health_events import heartbeat_handler as handler

__all__ = ["handler"]
