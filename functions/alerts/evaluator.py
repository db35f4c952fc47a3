"""Lambda entry point of the alert evaluator (SQS `alerts-events`: ReadingsAccepted, DeviceStatusChanged)."""

from gridshare.alerts.handlers import evaluator_handler as handler

__all__ = ["handler"]
