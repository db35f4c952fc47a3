"""Device configuration routes: the classic shadow's desired state (docs/devices.md, decision 0011)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.devices.api import DEVICE_ROLES
from gridshare.devices.config_service import config_service
from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.devices.requests import ConfigBody

api = ApiBlueprint("devices")


@api.route(
    "/v1/devices/{id}/config",
    "PUT",
    roles=DEVICE_ROLES,
    body="ConfigBody",
    response="Envelope[DeviceConfig]",
    errors=(409, 503),
    summary="Set the device's configuration (the shadow's desired state); the device gets the delta",
)
def put_config(caller: Caller, id: str, body: ConfigBody) -> dict:  # noqa: A002 - the path parameter
    wanted = body.model_dump(by_alias=True, exclude_none=True)
    if body.calibration is not None:
        # only the factors the caller wrote: validate_config fills the defaults
        wanted["calibration"] = {m: c.model_dump(exclude_unset=True) for m, c in body.calibration.items()}
    return {"data": config_service().put(caller, id, wanted)}


@api.route(
    "/v1/devices/{id}/config",
    "GET",
    roles=ANY_ROLE,
    response="Envelope[DeviceConfig]",
    errors=(503,),
    summary="The device's shadow: desired, reported, delta and version (404 if not yours)",
)
def get_config(caller: Caller, id: str) -> dict:  # noqa: A002 - the path parameter
    return {"data": config_service().get(caller, id)}
