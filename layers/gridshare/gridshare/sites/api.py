"""Sites routes: plants, their devices and energy, investments in them, and an investor's portfolio.

Hosts (prosumers) and admins create and change sites; operators read every site; another user's site is
404. `POST /v1/sites/{id}/investments` moves money and is `idempotent=True` (`Idempotency-Key`). What the
energy figures and shares mean: docs/sites.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, StrictInt, field_validator, model_validator

from gridshare.http.api import ApiBlueprint
from gridshare.http.idempotency import RequestIds
from gridshare.http.models import ApiModel, QueryModel, ResolutionRangeQuery, resolution_from_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.ranges import ROLLUP_MAX_DAYS
from gridshare.http.responses import NO_CONTENT, Envelope, Page
from gridshare.kernel.roles import Caller
from gridshare.ledger.core import CURRENCIES
from gridshare.sites.responses import (
    DeviceRole,
    Investment,
    Portfolio,
    Site,
    SiteDevice,
    SiteEnergy,
    SiteInvestors,
    SiteKind,
)
from gridshare.sites.service import SitesService, sites_service
from gridshare.wallets.service import INVESTMENT_MAX

api = ApiBlueprint("sites")

HOSTS: frozenset[str] = frozenset({"admin", "prosumer"})
"""Who creates and changes sites (their own; admins any)."""
READERS: frozenset[str] = frozenset({"admin", "operator", "prosumer"})
"""Who reads sites: hosts their own, admins and operators every one."""
INVESTORS: frozenset[str] = frozenset({"investor"})

ENERGY_MAX_DAYS: dict[str, int] = ROLLUP_MAX_DAYS
"""The longest `to - from` of an energy request per resolution (like the readings history)."""

Number = Annotated[float, Field(allow_inf_nan=False)]
Currency = Annotated[
    str,
    Field(description="ISO 4217 (upper case)", json_schema_extra={"enum": sorted(CURRENCIES)}),
]


def _known_zone(value: str) -> str:
    if "/" not in value and value != "UTC":
        raise ValueError("an IANA time zone such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("an IANA time zone such as Europe/Berlin") from None
    if value not in available_timezones():
        raise ValueError("an IANA time zone such as Europe/Berlin")
    return value


class Panels(ApiModel):
    count: StrictInt = Field(ge=1, le=1_000_000)
    watt_peak: Number = Field(gt=0, le=100_000, description="per panel, Wp")
    tilt_deg: Number = Field(ge=0, le=90)
    azimuth_deg: Number = Field(ge=0, lt=360, description="0 = north, 180 = south")


class Location(ApiModel):
    lat: Number = Field(ge=-90, le=90)
    lon: Number = Field(ge=-180, le=180)


class Tariff(ApiModel):
    currency: Currency
    retail_minor_per_kwh: StrictInt = Field(ge=0, le=1_000_000, description="minor units per kWh bought")
    feed_in_minor_per_kwh: StrictInt = Field(ge=0, le=1_000_000, description="minor units per kWh fed in")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("not a supported ISO 4217 currency")
        return value


class SiteBody(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    kind: SiteKind
    capacity_kw: Number = Field(gt=0, le=1_000_000)
    panels: Panels | None = None
    location: Location
    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    tariff: Tariff

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _known_zone(value)


class SitePatch(ApiModel):
    """Any of a site's fields; those left out stay."""

    EMPTY_BODY_ALLOWED: ClassVar[bool] = True

    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: SiteKind | None = None
    capacity_kw: Number | None = Field(default=None, gt=0, le=1_000_000)
    panels: Panels | None = None
    location: Location | None = None
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    tariff: Tariff | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _known_zone(value) if value is not None else None

    @model_validator(mode="after")
    def _no_nulls(self) -> SitePatch:
        for name in ("name", "kind", "capacity_kw", "location", "timezone", "tariff"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class AttachBody(ApiModel):
    role: DeviceRole


class InvestmentBody(ApiModel):
    amount: StrictInt = Field(ge=1, le=INVESTMENT_MAX, description="minor units, an integer")
    currency: Currency | None = Field(default=None, description="the site's currency (its tariff's); default it")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in CURRENCIES:
            raise ValueError("not a supported ISO 4217 currency")
        return value.upper() if value is not None else None


class SitesQuery(QueryModel):
    kind: SiteKind | None = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class EnergyQuery(ResolutionRangeQuery):
    """Defaults: `to` now, `from` 24 h before `to`; the span is bounded per resolution (ENERGY_MAX_DAYS)."""

    MAX_DAYS: ClassVar[Mapping[str, int]] = ENERGY_MAX_DAYS

    from_: str | None = resolution_from_param(ENERGY_MAX_DAYS)
    resolution: Literal["15m", "1h", "1d"] = "1h"


def service() -> SitesService:
    return sites_service()


@api.route(
    "/v1/sites",
    "POST",
    roles=HOSTS,
    body=SiteBody,
    status=201,
    response=Envelope[Site],
    summary="Create a site (plant): kind, capacity, panels, location, time zone, tariff",
)
def create_site(caller: Caller, body: SiteBody) -> dict:
    return {"data": service().create(caller, body.attributes())}


@api.route(
    "/v1/sites",
    "GET",
    roles=READERS,
    query=SitesQuery,
    response=Page[Site],
    summary="The caller's sites (admins and operators: every site), optionally of one kind",
)
def list_sites(caller: Caller, query: SitesQuery) -> dict:
    items, cursor = service().list(caller, query.kind, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route("/v1/sites/{id}", "GET", roles=READERS, response=Envelope[Site], summary="A site")
def get_site(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get(caller, id)}


@api.route(
    "/v1/sites/{id}",
    "PATCH",
    roles=HOSTS,
    body=SitePatch,
    response=Envelope[Site],
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


class SiteDevicesQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


@api.route(
    "/v1/sites/{id}/devices",
    "GET",
    roles=READERS,
    query=SiteDevicesQuery,
    response=Page[SiteDevice],
    summary="The devices on the site and their roles (at most 100 per site)",
)
def list_site_devices(caller: Caller, id: str, query: SiteDevicesQuery) -> dict:  # noqa: A002
    items, cursor = service().devices(caller, id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/sites/{id}/devices/{deviceId}",
    "PUT",
    roles=HOSTS,
    body=AttachBody,
    response=Envelope[SiteDevice],
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
    query=EnergyQuery,
    response=Envelope[SiteEnergy],
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
    body=InvestmentBody,
    status=201,
    idempotent=True,
    response=Envelope[Investment],
    errors=(409,),  # insufficient funds
    summary="Invest in a site: the amount moves from the investor's wallet to the site's investment account",
)
def invest(caller: Caller, id: str, body: InvestmentBody, ids: RequestIds) -> dict:  # noqa: A002
    return {"data": service().invest(caller, id, body.amount, body.currency, ids)}


@api.route(
    "/v1/sites/{id}/investors",
    "GET",
    roles=HOSTS,
    response=Envelope[SiteInvestors],
    summary="The site's investors: invested amount and exact share (its host, or an admin)",
)
def site_investors(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().investors(caller, id)}


@api.route(
    "/v1/me/portfolio",
    "GET",
    roles=INVESTORS,
    response=Envelope[Portfolio],
    summary="The investor's sites: invested, share, returns received to date",
)
def portfolio(caller: Caller) -> dict:
    return {"data": service().portfolio(caller)}
