"""Device routes: provision, list, get."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridshare.devices.responses import Device, DeviceDetail, ProvisionedDevice
from gridshare.devices.service import device_service
from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.models import ApiModel, QueryModel
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.responses import Envelope, Page
from gridshare.kernel.roles import Caller

api = ApiBlueprint("devices")
DEVICE_ROLES = frozenset({"admin", "operator", "prosumer", "consumer", "investor"})


class CreateDeviceBody(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    type: Literal["meter", "inverter", "battery", "gas_sensor"]
    csr: str | None = Field(
        default=None,
        max_length=16_384,
        pattern=r"^\s*-----BEGIN CERTIFICATE REQUEST-----[\s\S]+-----END CERTIFICATE REQUEST-----\s*$",
        description="PEM PKCS#10 CSR, signed by its key; with it, the private key never leaves the device",
    )


class ListQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
    status: Literal["never_seen", "online", "offline", "decommissioned"] | None = Field(
        default=None, description="only these"
    )


@api.route(
    "/v1/devices",
    "POST",
    roles=DEVICE_ROLES,
    body=CreateDeviceBody,
    status=201,
    response=Envelope[ProvisionedDevice],
    summary="Provision a device: IoT thing, X.509 certificate, per-thing policy",
)
def create_device(caller: Caller, body: CreateDeviceBody) -> dict:
    return {"data": device_service().provision(caller, body.name, body.type, body.csr)}


@api.route(
    "/v1/devices",
    "GET",
    roles=ANY_ROLE,
    query=ListQuery,
    response=Page[Device],
    summary="The caller's devices (admins and operators: all)",
)
def list_devices(caller: Caller, query: ListQuery) -> dict:
    items, cursor = device_service().list(caller, query.limit, query.cursor, query.status)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/devices/{id}",
    "GET",
    roles=ANY_ROLE,
    response=Envelope[DeviceDetail],
    summary="One device and the site it is on (404 if not yours)",
)
def get_device(caller: Caller, id: str) -> dict:  # noqa: A002 - the path parameter's name
    device = device_service().get(caller, id)
    # The sites service, imported on use (sites imports devices.service); it reads the one attachment item.
    from gridshare.sites.service import sites_service

    return {"data": {**device, **sites_service().placement(id)}}
