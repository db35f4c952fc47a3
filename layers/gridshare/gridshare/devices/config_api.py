"""Device configuration routes: the classic shadow's desired state (docs/devices.md, decision 0011)."""

from __future__ import annotations

from pydantic import Field

from gridshare.devices import config
from gridshare.devices.api import DEVICE_ROLES
from gridshare.devices.config_service import config_service
from gridshare.devices.responses import DeviceConfig
from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.models import ApiModel
from gridshare.http.responses import Envelope
from gridshare.kernel.roles import Caller

api = ApiBlueprint("devices")


class CalibrationBody(ApiModel):
    offset: float = Field(default=0, description="added after scaling, in the metric's unit")
    scale: float = Field(default=1, description="multiplies the raw value; never 0")


class ConfigBody(ApiModel):
    """The whole desired configuration: a field left out is removed from the shadow's desired state."""

    report_interval_s: int | None = Field(
        default=None,
        ge=config.MIN_REPORT_INTERVAL_S,
        le=config.MAX_REPORT_INTERVAL_S,
        description=f"seconds between readings, {config.MIN_REPORT_INTERVAL_S}..{config.MAX_REPORT_INTERVAL_S}",
    )
    calibration: dict[str, CalibrationBody] | None = Field(
        default=None, description="per metric of the device's type: value * scale + offset, applied at ingest"
    )
    tank_capacity_kg: float | None = Field(
        default=None,
        ge=config.TYPE_FIELDS["tankCapacityKg"][1],
        le=config.TYPE_FIELDS["tankCapacityKg"][2],
        description="gas sensors only",
    )
    low_level_pct: float | None = Field(
        default=None,
        ge=config.TYPE_FIELDS["lowLevelPct"][1],
        le=config.TYPE_FIELDS["lowLevelPct"][2],
        description="gas sensors only: the low-level alert threshold",
    )


@api.route(
    "/v1/devices/{id}/config",
    "PUT",
    roles=DEVICE_ROLES,
    body=ConfigBody,
    response=Envelope[DeviceConfig],
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
    response=Envelope[DeviceConfig],
    errors=(503,),
    summary="The device's shadow: desired, reported, delta and version (404 if not yours)",
)
def get_config(caller: Caller, id: str) -> dict:  # noqa: A002 - the path parameter
    return {"data": config_service().get(caller, id)}
