"""Lambda entry point of telemetry ingest (SQS batches from the telemetry IoT rule)."""

from gridshare.telemetry.ingest import handler

__all__ = ["handler"]
