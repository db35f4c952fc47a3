"""Lambda entry point of the optional Timestream sink (ReadingsAccepted events from SQS; decision 0020)."""

from gridshare.telemetry.timestream_sink import handler

__all__ = ["handler"]
