"""Sites routes: plants, their devices and energy, investments in them, and an investor's portfolio.

Hosts (prosumers) and admins create and change sites; operators read every site; another user's site is
404. `POST /v1/sites/{id}/investments` moves money and is `idempotent=True` (`Idempotency-Key`). What the
energy figures and shares mean: docs/sites.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ApiBlueprint
from gridshare.http.idempotency import RequestIds
from gridshare.http.no_content import NO_CONTENT
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller
from gridshare.sites.service import SitesService, sites_service

if TYPE_CHECKING:
    from gridshare.sites.requests import (
        AttachBody,
        EnergyQuery,
        InvestmentBody,
        SiteBody,
        SiteDevicesQuery,
        SitePatch,
        SitesQuery,
    )

api = ApiBlueprint("sites")

HOSTS: frozenset[str] = frozenset({"admin", "prosumer"})
"""Who creates and changes sites (their own; admins any)."""
READERS: frozenset[str] = frozenset({"admin", "operator", "prosumer"})
"""Who reads sites: hosts their own, admins and operators every one."""
INVESTORS: frozenset[str] = frozenset({"investor"})


def service() -> SitesService:
    return sites_service()


@api.route(
    "/v1/sites",
    "POST",
    roles=HOSTS,
    body="SiteBody",
    status=201,
    response="Envelope[Site]",
    summary="Create a site (plant): kind, capacity, panels, location, time zone, tariff",
)
def create_site(caller: Caller, body: SiteBody) -> dict:
    return {"data": service().create(caller, body.attributes())}


@api.route(
    "/v1/sites",
    "GET",
    roles=READERS,
    query="SitesQuery",
    response="Page[Site]",
    summary="The caller's sites (admins and operators: every site), optionally of one kind",
)
def list_sites(caller: Caller, query: SitesQuery) -> dict:
    items, cursor = service().list(caller, query.kind, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route("/v1/sites/{id}", "GET", roles=READERS, response="Envelope[Site]", summary="A site")
def get_site(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get(caller, id)}


@api.route(
    "/v1/sites/{id}",
    "PATCH",
    roles=HOSTS,
    body="SitePatch",
    response="Envelope[Site]",
    errors=(409,),  # the tariff's currency, once investors hold shares
    summary="Change a site's fields (its owner, or an admin)",
)
def update_site(caller: Caller, id: str, body: SitePatch) -> dict:  # noqa: A002
    return {"data": service().update(caller, id, body.attributes(only_set=True))}


@api.route(
    "/v1/sites/{id}",
    "DELETE",
    roles=HOSTS,
    status=204,
    response=NO_CONTENT,
    errors=(409,),  # devices are attached, or investors hold shares
    summary="Delete a site without devices or investments (its owner, or an admin)",
)
def delete_site(caller: Caller, id: str) -> None:  # noqa: A002
    service().delete(caller, id)


@api.route(
    "/v1/sites/{id}/devices",
    "GET",
    roles=READERS,
    query="SiteDevicesQuery",
    response="Page[SiteDevice]",
    summary="The devices on the site and their roles (at most 100 per site)",
)
def list_site_devices(caller: Caller, id: str, query: SiteDevicesQuery) -> dict:  # noqa: A002
    items, cursor = service().devices(caller, id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/sites/{id}/devices/{deviceId}",
    "PUT",
    roles=HOSTS,
    body="AttachBody",
    response="Envelope[SiteDevice]",
    errors=(409,),  # the device is on another site, is not the site owner's, or the site is full
    summary="Attach a device to the site with a role (or change its role); a device is on one site at most",
)
def attach_device(caller: Caller, id: str, deviceId: str, body: AttachBody) -> dict:  # noqa: A002, N803
    return {"data": service().attach(caller, id, deviceId, body.role)}


@api.route(
    "/v1/sites/{id}/devices/{deviceId}",
    "DELETE",
    roles=HOSTS,
    status=204,
    response=NO_CONTENT,
    summary="Detach a device from the site (nothing to do if it is not on it)",
)
def detach_device(caller: Caller, id: str, deviceId: str) -> None:  # noqa: A002, N803
    service().detach(caller, id, deviceId)


@api.route(
    "/v1/sites/{id}/energy",
    "GET",
    roles=READERS,
    query="EnergyQuery",
    response="Envelope[SiteEnergy]",
    errors=(503,),  # the devices' rollups take longer to read than the request's deadline
    summary="The site's production, consumption, export, import, self-consumption per interval (Wh)",
)
def site_energy(caller: Caller, id: str, query: EnergyQuery) -> dict:  # noqa: A002
    window = query.window()
    return {"data": service().energy(caller, id, window.start, window.end, query.resolution)}


@api.route(
    "/v1/sites/{id}/investments",
    "POST",
    roles=INVESTORS,
    body="InvestmentBody",
    status=201,
    idempotent=True,
    response="Envelope[Investment]",
    errors=(409,),  # insufficient funds
    summary="Invest in a site: the amount moves from the investor's wallet to the site's investment account",
)
def invest(caller: Caller, id: str, body: InvestmentBody, ids: RequestIds) -> dict:  # noqa: A002
    return {"data": service().invest(caller, id, body.amount, body.currency, ids)}


@api.route(
    "/v1/sites/{id}/investors",
    "GET",
    roles=HOSTS,
    response="Envelope[SiteInvestors]",
    summary="The site's investors: invested amount and exact share (its host, or an admin)",
)
def site_investors(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().investors(caller, id)}


@api.route(
    "/v1/me/portfolio",
    "GET",
    roles=INVESTORS,
    response="Envelope[Portfolio]",
    summary="The investor's sites: invested, share, returns received to date",
)
def portfolio(caller: Caller) -> dict:
    return {"data": service().portfolio(caller)}
