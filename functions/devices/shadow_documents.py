"""Lambda entry point of device shadow documents (SQS batches from the shadow-documents IoT rule)."""

from gridshare.devices.shadow_events import documents_handler as handler

__all__ = ["handler"]
