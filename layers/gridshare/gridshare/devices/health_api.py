"""Device health and settings routes: fleet stats, a device's status history, PATCH a device (docs/devices.md).

`/v1/devices/stats` is a static path beside `/v1/devices/{id}`: API Gateway and Chalice match static segments
first, and device ids are ULIDs, so no device is ever called "stats".
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from gridshare.devices import health as H
from gridshare.devices.health_service import health_service
from gridshare.devices.responses import Device, DeviceStats, StatusChange
from gridshare.devices.service import DeviceService, device_view
from gridshare.http.api import ANY_ROLE, ApiBlueprint, ApiModel, QueryModel
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.responses import Envelope, Page
from gridshare.kernel.roles import Caller

api = ApiBlueprint("devices")
FLEET_ROLES = frozenset({"admin", "operator"})
PATCH_ROLES = frozenset({"admin", "operator", "prosumer", "consumer", "investor"})  # devices.api.DEVICE_ROLES
MAX_METADATA_KEYS = 20


class DevicePatch(ApiModel):
    """Any of a device's settings; those left out stay."""

    EMPTY_BODY_ALLOWED: ClassVar[bool] = True

    name: str | None = Field(default=None, min_length=1, max_length=120)
    offline_after_s: int | None = Field(
        default=None,
        ge=H.MIN_OFFLINE_AFTER_S,
        le=H.MAX_OFFLINE_AFTER_S,
        description="seconds of silence after which the device is offline",
    )
    metadata: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_METADATA_KEYS,
        description=f"labels (replaces the old ones): at most {MAX_METADATA_KEYS} keys of 1-64 characters, "
        "values of at most 256",
    )

    @field_validator("metadata")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, text in (value or {}).items():
            if not 1 <= len(key) <= 64:
                raise ValueError("keys are 1-64 characters")
            if len(text) > 256:
                raise ValueError(f"the value of '{key}' is over 256 characters")
        return value


class HistoryQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


@api.route(
    "/v1/devices/stats",
    "GET",
    roles=FLEET_ROLES,
    response=Envelope[DeviceStats],
    summary="Devices by type and status (admins and operators)",
)
def device_stats(caller: Caller) -> dict:
    return {"data": health_service().stats()}


@api.route(
    "/v1/devices/{id}/status-history",
    "GET",
    roles=ANY_ROLE,
    query=HistoryQuery,
    response=Page[StatusChange],
    summary="The device's online/offline transitions, newest first (404 if not yours)",
)
def status_history(caller: Caller, id: str, query: HistoryQuery) -> dict:  # noqa: A002 - the path parameter
    device = DeviceService.get_owned(caller, id)
    items, cursor = health_service().history(device, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/devices/{id}",
    "PATCH",
    roles=PATCH_ROLES,
    body=DevicePatch,
    response=Envelope[Device],
    summary="Rename a device, set its offlineAfterS and metadata (its owner, or an admin)",
)
def update_device(caller: Caller, id: str, body: DevicePatch) -> dict:  # noqa: A002 - the path parameter
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return {"data": device_view(health_service().update(caller, id, changes))}
