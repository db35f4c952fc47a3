"""Device configuration through the classic shadow: write `desired`, read desired/reported/delta, and take
the reported firmware version from the shadow's documents (docs/devices.md, decision 0011).

The desired calibration is also kept on the device record, because ingest applies it (through DeviceRef)
and must not read the shadow for every message. The shadow is written first: if it fails, the record is
unchanged and the caller retries the (idempotent) PUT; if the record's write fails after it, the retry
writes the same desired state again, which changes nothing in the shadow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gridshare.devices import config
from gridshare.devices.models import DeviceModel
from gridshare.devices.service import DeviceService
from gridshare.devices.shadow import IotShadowStore, ShadowStore
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.roles import Caller

logger = logging.getLogger("gridshare.devices.config")
MAX_FIRMWARE_VERSION = 64


def config_view(document: dict[str, Any]) -> dict[str, Any]:
    state = document.get("state") or {}
    desired = state.get("desired") or {}
    reported = state.get("reported") or {}
    delta = state.get("delta")
    return {
        "desired": desired,
        "reported": reported,
        "delta": delta if delta is not None else config.delta_of(desired, reported),
        "version": document.get("version", 0),
    }


@dataclass
class ConfigService:
    shadows: ShadowStore = field(default_factory=IotShadowStore)

    def get(self, caller: Caller, device_id: str) -> dict[str, Any]:
        device = DeviceService.get_owned(caller, device_id)
        return config_view(self.shadows.get(device.thing_name))

    def put(self, caller: Caller, device_id: str, wanted: dict[str, Any]) -> dict[str, Any]:
        device = DeviceService.get_owned(caller, device_id)
        valid = config.validate_config(device.type, wanted)
        document = self.shadows.get(device.thing_name)
        update = config.desired_update((document.get("state") or {}).get("desired"), valid)
        if update:  # conditional on the version read: a concurrent change is a 409, never a silent merge
            self.shadows.update_desired(device.thing_name, update, document.get("version"))
        calibration = config.calibration_of(valid) or None
        if device.calibration != calibration:
            device.update(actions=[DeviceModel.calibration.set(calibration)])
        logger.info("device configured", extra={"deviceId": device.id, "fields": sorted(valid)})
        return config_view(self.shadows.get(device.thing_name))

    # ------------------------------------------------------------ from the shadow's documents
    @staticmethod
    def record_documents(thing_name: str, document: Any) -> str:
        """Take the reported firmware version from a `.../shadow/update/documents` message; returns what
        happened: `recorded`, `unchanged`, `unknown` (no such thing) or `invalid`."""
        if not isinstance(document, dict):
            return "invalid"
        current = document.get("current") if isinstance(document.get("current"), dict) else document
        reported = ((current or {}).get("state") or {}).get("reported") or {}
        version = reported.get("firmwareVersion") if isinstance(reported, dict) else None
        if version is None:
            return "unchanged"
        if not isinstance(version, str) or not 0 < len(version) <= MAX_FIRMWARE_VERSION:
            return "invalid"
        found = DeviceService.find_by_thing(thing_name)
        if found is None:
            return "unknown"
        device = DeviceModel.get(found.id)
        if device.firmware_version == version:
            return "unchanged"
        device.update(actions=[DeviceModel.firmware_version.set(version)])
        return "recorded"


config_service = ServiceFactory(ConfigService)
