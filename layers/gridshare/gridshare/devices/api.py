"""Device routes: provision, list, get."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.devices.service import device_service
from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.devices.requests import CreateDeviceBody, ListQuery

api = ApiBlueprint("devices")
DEVICE_ROLES = frozenset({"admin", "operator", "prosumer", "consumer", "investor"})


@api.route(
    "/v1/devices",
    "POST",
    roles=DEVICE_ROLES,
    body="CreateDeviceBody",
    status=201,
    response="Envelope[ProvisionedDevice]",
    summary="Provision a device: IoT thing, X.509 certificate, per-thing policy",
)
def create_device(caller: Caller, body: CreateDeviceBody) -> dict:
    return {"data": device_service().provision(caller, body.name, body.type, body.csr)}


@api.route(
    "/v1/devices",
    "GET",
    roles=ANY_ROLE,
    query="ListQuery",
    response="Page[Device]",
    summary="The caller's devices (admins and operators: all)",
)
def list_devices(caller: Caller, query: ListQuery) -> dict:
    items, cursor = device_service().list(caller, query.limit, query.cursor, query.status)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/devices/{id}",
    "GET",
    roles=ANY_ROLE,
    response="Envelope[DeviceDetail]",
    summary="One device and the site it is on (404 if not yours)",
)
def get_device(caller: Caller, id: str) -> dict:  # noqa: A002 - the path parameter's name
    device = device_service().get(caller, id)
    # The sites service, imported on use (sites imports devices.service); it reads the one attachment item.
    from gridshare.sites.service import sites_service

    return {"data": {**device, **sites_service().placement(id)}}
