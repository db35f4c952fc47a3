"""Device health and settings routes: fleet stats, a device's status history, PATCH a device, the devices'
dead letters (docs/devices.md).

`/v1/devices/stats` and `/v1/devices/dead-letters` are static paths beside `/v1/devices/{id}`: API Gateway
and Chalice match static segments first, and device ids are ULIDs, so no device is ever called "stats".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridshare.devices.command_service import command_service
from gridshare.devices.health_service import health_service
from gridshare.devices.service import DeviceService, device_view
from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.pagination import page
from gridshare.kernel import errors
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.devices.requests import DevicePatch, HistoryQuery

api = ApiBlueprint("devices")
FLEET_ROLES = frozenset({"admin", "operator"})
PATCH_ROLES = frozenset({"admin", "operator", "prosumer", "consumer", "investor"})  # devices.api.DEVICE_ROLES


@api.route(
    "/v1/devices/stats",
    "GET",
    roles=FLEET_ROLES,
    response="Envelope[DeviceStats]",
    summary="Devices by type and status (admins and operators)",
)
def device_stats(caller: Caller) -> dict:
    return {"data": health_service().stats()}


@api.route(
    "/v1/devices/dead-letters",
    "GET",
    roles=FLEET_ROLES,
    query="HistoryQuery",
    response="Page[DeviceDeadLetter]",
    summary="Device messages that could not be used (malformed command acks), newest first (admins, operators)",
)
def device_dead_letters(caller: Caller, query: HistoryQuery) -> dict:
    items, cursor = command_service().dead_letter_page(query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/devices/{id}/status-history",
    "GET",
    roles=ANY_ROLE,
    query="HistoryQuery",
    response="Page[StatusChange]",
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
    body="DevicePatch",
    response="Envelope[DeviceDetail]",
    errors=(409,),  # siteId: the site is not the device owner's, or the device's site changed meanwhile
    summary="Rename a device, set its offlineAfterS, metadata and site (its owner, or an admin)",
)
def update_device(caller: Caller, id: str, body: DevicePatch) -> dict:  # noqa: A002 - the path parameter
    fields = body.model_fields_set
    changes = {name: getattr(body, name) for name in fields - {"site_id", "site_role"}}
    if "site_role" in fields and body.site_role is not None and body.site_id is None:
        raise errors.InvalidInput(
            "A siteRole goes with a siteId.", errors=[errors.FieldError("siteRole", "only with a siteId")]
        )
    if "site_id" in fields:
        health_service().check_changeable(caller, id)  # PATCH's rule (owner or admin) before the site's
        sites = _sites()
        if body.site_id is None:
            sites.unplace(caller, id)
        else:
            sites.place(caller, id, body.site_id, body.site_role)
    device = device_view(health_service().update(caller, id, changes))
    return {"data": {**device, **_sites().placement(id)}}


def _sites() -> Any:
    """The sites service, imported on use: sites imports devices.service (no cycle at import time), and the
    devices function pays for the sites modules only when a route needs them (decision 0012)."""
    from gridshare.sites.service import sites_service

    return sites_service()
