"""Device registry use cases: provision (thing + certificate + policy), list, get with ownership.

Certificates after the first (rotation, revocation) and decommissioning: gridshare.devices.certificate_service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist

from gridshare.devices import health as H
from gridshare.devices.certificates import not_after_ms
from gridshare.devices.iot import CertificateIssuer, IotRegistry, default_issuer
from gridshare.devices.models import CertificateModel, DeviceModel
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.kernel.roles import Caller
from gridshare.kernel.settings import get_settings

DEVICE_TYPES = ("meter", "inverter", "battery", "gas_sensor")


def thing_name_for(device_id: str) -> str:
    """IoT thing name = MQTT client id = certificate CN; derived from the id so it can never clash."""
    return f"gs-{device_id.lower()}"


def topics_for(thing_name: str) -> dict[str, str]:
    base = f"gs/v1/{thing_name}"
    return {
        "telemetry": f"{base}/telemetry",
        "heartbeat": f"{base}/heartbeat",
        "commands": f"{base}/commands",
        "commandsAck": f"{base}/commands/ack",
    }


def device_view(device: DeviceModel) -> dict[str, Any]:
    return {
        "id": device.id,
        "name": device.name,
        "type": device.type,
        "thingName": device.thing_name,
        "ownerId": device.owner_id,
        "status": "decommissioned" if device.decommissioned_at is not None else H.device_status(device.health),
        "lastSeenAt": to_iso(int(device.last_seen_at)) if device.last_seen_at is not None else None,
        "offlineAfterS": H.offline_after_s(int(device.offline_after_s) if device.offline_after_s is not None else None),
        "metadata": dict(device.metadata or {}),
        "createdAt": to_iso(int(device.created_at)),
        "topics": topics_for(device.thing_name),
        "firmwareVersion": device.firmware_version,
    }


def _status_filter(status: str | None) -> Any:
    if status is None:
        return None
    if status == "decommissioned":
        return DeviceModel.decommissioned_at.exists()
    in_service = DeviceModel.decommissioned_at.does_not_exist()
    if status == H.NEVER_SEEN:
        return in_service & DeviceModel.health.does_not_exist()
    return in_service & (DeviceModel.health == status)


def note_seen(device_id: str, at: int) -> str:
    """A device's accepted reading or heartbeat (telemetry ingest, the heartbeat consumer) keeps it online:
    gridshare.devices.health_service.HealthService.seen. Imported when used: the API never needs it."""
    from gridshare.devices.health_service import health_service

    return health_service().seen(device_id, min(at, now_ms()))


def reported_metrics() -> dict[str, tuple[str, ...]]:
    """Device type -> the numeric metrics it reports (gridshare.devices.config.TYPE_METRICS): what another
    context (alert rules) may watch on a device of that type."""
    from gridshare.devices.config import TYPE_METRICS

    return dict(TYPE_METRICS)


@dataclass(frozen=True)
class DeviceRef:
    """What another context may know of a device: who owns it and what it is."""

    id: str
    owner_id: str
    thing_name: str
    type: str
    decommissioned_at: int | None = None  # epoch ms; telemetry from a decommissioned device is refused
    calibration: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # applied at ingest


@dataclass
class DeviceService:
    registry: IotRegistry = field(default_factory=IotRegistry)
    issuer: CertificateIssuer = field(default_factory=default_issuer)

    def provision(self, caller: Caller, name: str, device_type: str, csr_pem: str | None) -> dict[str, Any]:
        device_id = new_id()
        thing = thing_name_for(device_id)
        issued = None
        try:
            self.registry.create_thing(thing, device_type, caller.user_id)
            issued = self.issuer.issue(thing, csr_pem)
            self.registry.bind(thing, issued.certificate_arn)
            created_at = now_ms()
            CertificateModel(
                device_id=device_id,
                id=issued.certificate_id,
                arn=issued.certificate_arn,
                status="active",
                created_at=created_at,
                expires_at=not_after_ms(issued.certificate_pem),
            ).save()
            device = DeviceModel(
                id=device_id,
                owner_id=caller.user_id,
                name=name,
                type=device_type,
                thing_name=thing,
                certificate_id=issued.certificate_id,
                certificate_arn=issued.certificate_arn,
                status="provisioned",
                created_at=created_at,
            )
            from gridshare.devices.health_store import HealthStore

            HealthStore().save_new_device(device)  # and counted as never seen (GET /v1/devices/stats)
        except Exception:
            self.registry.remove(
                thing, issued.certificate_arn if issued else None, issued.certificate_id if issued else None
            )
            raise
        settings = get_settings()
        view = device_view(device)
        view.update(
            {
                "certificateId": issued.certificate_id,
                "certificatePem": issued.certificate_pem,
                "caCertificatePem": issued.ca_certificate_pem,
                "mqtt": {"host": settings.mqtt_host, "port": settings.mqtt_port, "clientId": thing},
            }
        )
        if issued.private_key_pem is not None:
            view["privateKey"] = issued.private_key_pem
        return view

    @staticmethod
    def get_owned(caller: Caller, device_id: str) -> DeviceModel:
        """The device if the caller owns it (or is an admin/operator); 404 otherwise, never 403."""
        try:
            device = DeviceModel.get(device_id)
        except DoesNotExist:
            raise errors.NotFound("No such device.") from None
        if device.owner_id != caller.user_id and caller.role not in ("admin", "operator"):
            raise errors.NotFound("No such device.")
        return device

    def get(self, caller: Caller, device_id: str) -> dict[str, Any]:
        return device_view(self.get_owned(caller, device_id))

    @staticmethod
    def list(
        caller: Caller, limit: int, cursor: str | None, status: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of devices; with `status`, only those (DynamoDB filters after reading `limit` items, so a
        page may hold fewer than `limit` and still have a next cursor)."""
        start = decode_cursor(cursor)
        only = _status_filter(status)
        if caller.role in ("admin", "operator"):
            result = DeviceModel.scan(limit=limit, last_evaluated_key=start, filter_condition=only)
        else:
            if start is not None and start.get("owner_id", {}).get("S") != caller.user_id:
                raise errors.BadRequest(
                    "The cursor does not belong to this listing.",
                    errors=[errors.FieldError("cursor", "not from this listing")],
                )
            result = DeviceModel.by_owner.query(
                caller.user_id, limit=limit, last_evaluated_key=start, scan_index_forward=False, filter_condition=only
            )
        items = [device_view(d) for d in result]
        return items, encode_cursor(result.last_evaluated_key)

    @staticmethod
    def id_page(
        limit: int, after: dict[str, Any] | None, segment: int = 0, total_segments: int = 1
    ) -> tuple[list[str], dict[str, Any] | None]:
        """A page of every registered device's id (decommissioned ones too) and where the next starts: for a
        context's fleet-wide job (telemetry's rollup and archive jobs), which reads the registry through this
        service. With `total_segments` > 1, only the devices of one segment of a parallel scan."""
        parallel: dict[str, int] = {"segment": segment, "total_segments": total_segments} if total_segments > 1 else {}
        result = DeviceModel.scan(limit=limit, last_evaluated_key=after, attributes_to_get=["id"], **parallel)
        ids = [device.id for device in result]
        return ids, result.last_evaluated_key

    @staticmethod
    def find_by_thing(thing_name: str) -> DeviceRef | None:
        """The device a certificate's thing name belongs to (telemetry ingest resolves senders with it)."""
        for device in DeviceModel.by_thing.query(thing_name, limit=1):
            decommissioned = int(device.decommissioned_at) if device.decommissioned_at is not None else None
            calibration = device.calibration or {}
            return DeviceRef(device.id, device.owner_id, device.thing_name, device.type, decommissioned, calibration)
        return None


device_service = ServiceFactory(DeviceService)
