"""Device command routes: send a command, list a device's commands, read one (docs/devices.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.devices.api import DEVICE_ROLES
from gridshare.devices.command_service import command_service
from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.devices.requests import CommandListQuery, SendCommandBody

api = ApiBlueprint("devices")


@api.route(
    "/v1/devices/{id}/commands",
    "POST",
    roles=DEVICE_ROLES,
    body="SendCommandBody",
    status=202,
    response="Envelope[DeviceCommand]",
    errors=(409, 503),  # 409: the device is decommissioned
    summary="Send a command to the device (MQTT gs/v1/{thing}/commands); it answers with an ack",
)
def send_command(caller: Caller, id: str, body: SendCommandBody) -> dict:  # noqa: A002 - the path parameter
    return {"data": command_service().issue(caller, id, body.name, body.params, body.timeout_s)}


@api.route(
    "/v1/devices/{id}/commands",
    "GET",
    roles=ANY_ROLE,
    query="CommandListQuery",
    response="Page[DeviceCommand]",
    summary="The device's commands, newest first (404 if not yours)",
)
def list_commands(caller: Caller, id: str, query: CommandListQuery) -> dict:  # noqa: A002
    items, cursor = command_service().list(caller, id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/devices/{id}/commands/{commandId}",
    "GET",
    roles=ANY_ROLE,
    response="Envelope[DeviceCommand]",
    summary="One command and its outcome (404 if not yours)",
)
def get_command(caller: Caller, id: str, commandId: str) -> dict:  # noqa: A002, N803 - path parameters
    return {"data": command_service().get(caller, id, commandId)}
