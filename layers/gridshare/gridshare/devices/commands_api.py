"""Device command routes: send a command, list a device's commands, read one (docs/devices.md)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gridshare.devices.api import DEVICE_ROLES
from gridshare.devices.command_service import command_service
from gridshare.devices.commands import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from gridshare.devices.responses import DeviceCommand
from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.models import ApiModel, QueryModel
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.responses import Envelope, Page
from gridshare.kernel.roles import Caller

api = ApiBlueprint("devices")


class SendCommandBody(ApiModel):
    name: str = Field(min_length=1, max_length=64, description="a command the device's type knows")
    params: dict[str, Any] = Field(default_factory=dict, description="the command's parameters")
    timeout_s: int = Field(
        default=DEFAULT_TIMEOUT_S,
        ge=MIN_TIMEOUT_S,
        le=MAX_TIMEOUT_S,
        description="seconds the device has to acknowledge before the command times out",
    )


class CommandListQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


@api.route(
    "/v1/devices/{id}/commands",
    "POST",
    roles=DEVICE_ROLES,
    body=SendCommandBody,
    status=202,
    response=Envelope[DeviceCommand],
    errors=(409, 503),  # 409: the device is decommissioned
    summary="Send a command to the device (MQTT gs/v1/{thing}/commands); it answers with an ack",
)
def send_command(caller: Caller, id: str, body: SendCommandBody) -> dict:  # noqa: A002 - the path parameter
    return {"data": command_service().issue(caller, id, body.name, body.params, body.timeout_s)}


@api.route(
    "/v1/devices/{id}/commands",
    "GET",
    roles=ANY_ROLE,
    query=CommandListQuery,
    response=Page[DeviceCommand],
    summary="The device's commands, newest first (404 if not yours)",
)
def list_commands(caller: Caller, id: str, query: CommandListQuery) -> dict:  # noqa: A002
    items, cursor = command_service().list(caller, id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/devices/{id}/commands/{commandId}",
    "GET",
    roles=ANY_ROLE,
    response=Envelope[DeviceCommand],
    summary="One command and its outcome (404 if not yours)",
)
def get_command(caller: Caller, id: str, commandId: str) -> dict:  # noqa: A002, N803 - path parameters
    return {"data": command_service().get(caller, id, commandId)}
