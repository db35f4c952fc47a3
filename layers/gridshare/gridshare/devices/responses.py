"""Devices' response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gridshare.http.responses import Absent, ResponseModel, Timestamp, absent


class DeviceTopics(ResponseModel):
    """The device's MQTT topics (gs/v1/{thingName}/...)."""

    telemetry: str
    heartbeat: str
    commands: str
    commands_ack: str


class Device(ResponseModel):
    """A registered device (devices.service.device_view)."""

    id: str
    name: str
    type: Literal["meter", "inverter", "battery", "gas_sensor"]
    thing_name: str = Field(description="IoT thing name = MQTT client id = certificate CN")
    owner_id: str
    status: Literal["never_seen", "online", "offline", "decommissioned"] = Field(
        description="decommissioned once DELETE /v1/devices/{id} ran; else health: never_seen until the first "
        "reading or heartbeat; offline when silent longer "
        "than offlineAfterS (docs/devices.md)"
    )
    last_seen_at: Timestamp | None = Field(
        description="the last reading or heartbeat, to within min(offlineAfterS / 3, 60 s); null if never seen"
    )
    offline_after_s: int = Field(description="seconds of silence after which the device is offline")
    metadata: dict[str, str] = Field(description="the owner's labels")
    created_at: Timestamp
    topics: DeviceTopics
    firmware_version: str | None = Field(description="from the shadow's reported state; null until reported")


class DeviceDetail(Device):
    """One device (GET /v1/devices/{id}, PATCH): a device and the site it is on."""

    site_id: str | None = Field(description="the site the device is on (sites context); null when on none")
    site_role: Literal["production", "consumption", "storage", "grid_meter"] | None = Field(
        description="its role on that site; null when on none"
    )


class MqttEndpoint(ResponseModel):
    host: str
    port: int
    client_id: str


class ProvisionedDevice(Device):
    """A new device and its credentials: the only time the certificate (and a generated key) is returned."""

    certificate_id: str
    certificate_pem: str
    ca_certificate_pem: str = Field(description="trust it for the broker's TLS certificate")
    mqtt: MqttEndpoint
    private_key: Absent[str] = absent("PEM; only when no CSR was sent (then generated and never stored)")


class LateAck(ResponseModel):
    """An ack that came after the command had timed out: kept, but the command stays `timed_out`."""

    status: Literal["succeeded", "failed", "rejected"]
    result: dict[str, Any]
    received_at: Timestamp


class DeviceCommand(ResponseModel):
    """A command sent to a device (devices.command_service.command_view); `id` is the correlation id."""

    id: str
    device_id: str
    name: str
    params: dict[str, Any]
    status: Literal["sent", "succeeded", "failed", "rejected", "timed_out"]
    issued_at: Timestamp
    expires_at: Timestamp = Field(description="an unanswered command becomes timed_out after this")
    completed_at: Timestamp | None = Field(description="when it reached its final state; null while sent")
    result: dict[str, Any] | None = Field(description="the device's result; null until it answers")
    late_ack: Absent[LateAck] = absent("the first ack received after the command timed out")


class DeviceCertificate(ResponseModel):
    """One of a device's certificates (devices.certificate_service.certificate_view); never its PEM."""

    id: str = Field(description="IoT's certificate id")
    device_id: str
    status: Literal["active", "revoked"]
    created_at: Timestamp
    expires_at: Timestamp | None = Field(description="notAfter; null for a certificate recorded before expiry was kept")
    revoked_at: Timestamp | None = Field(description="null while active")


class IssuedCertificate(DeviceCertificate):
    """A new certificate for the device's thing: the only time its PEM (and a generated key) is returned."""

    certificate_pem: str
    ca_certificate_pem: str = Field(description="trust it for the broker's TLS certificate")
    mqtt: MqttEndpoint
    private_key: Absent[str] = absent("PEM; only when no CSR was sent (then generated and never stored)")


class DeviceConfig(ResponseModel):
    """The device's classic shadow (devices.config_service.config_view): what the owner asked, what the
    device reported, what it has not applied yet."""

    desired: dict[str, Any] = Field(description="the configuration asked for (reportIntervalS, calibration, ...)")
    reported: dict[str, Any] = Field(description="what the device reported (incl. firmwareVersion); {} until then")
    delta: dict[str, Any] = Field(description="desired fields the device has not reported yet")
    version: int = Field(description="the shadow document's version; 0 before the first write")


class StatusChange(ResponseModel):
    """One health transition of a device (devices.health_service.status_change_view)."""

    status: Literal["online", "offline"]
    previous: Literal["never_seen", "online", "offline"]
    at: Timestamp
    last_seen_at: Timestamp | None = Field(description="the device's last message as stored at the transition")


class StatusCounts(ResponseModel):
    never_seen: int
    online: int
    offline: int


class DeviceStats(ResponseModel):
    """Devices by type and status, from counters kept with every transition (devices.health.stats_from_counts)."""

    total: int
    by_status: StatusCounts
    by_type: dict[str, StatusCounts]


class DeadLetterReason(ResponseModel):
    field: str
    message: str


class DeviceDeadLetter(ResponseModel):
    """A device message the devices context could not use (gridshare.devices.dead_letters)."""

    id: str
    kind: Literal["command_ack"]
    thing_name: str | None
    topic: str | None
    payload: str = Field(description="base64 of the bytes received")
    reasons: list[DeadLetterReason]
    received_at: Timestamp
