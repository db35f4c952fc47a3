"""Lambda entry point of device command acks (SQS batches from the commands-ack IoT rule)."""

from gridshare.devices.command_events import ack_handler as handler

__all__ = ["handler"]
