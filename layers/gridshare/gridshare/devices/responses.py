"""Devices' response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Literal

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
    status: str = Field(description="provisioned")
    created_at: Timestamp
    topics: DeviceTopics


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
