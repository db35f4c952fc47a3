"""An event rule of resources.EVENT_RULES' kind, for the tests of its local provisioning and its CDK rule."""

from __future__ import annotations

from gridshare.kernel import resources

SPEC = resources.EventRuleSpec(
    name="test-device-status",
    context="devices",
    sources=("gridshare.devices",),
    detail_types=("DeviceStatusChanged",),
    queue="device-heartbeats",
)
