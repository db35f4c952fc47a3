"""The sites context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the sites api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, StrictInt, field_validator, model_validator

from gridshare.http.models import ApiModel, QueryModel, ResolutionRangeQuery, resolution_from_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gridshare.http.ranges import ROLLUP_MAX_DAYS
from gridshare.ledger.assets import CURRENCIES
from gridshare.sites.responses import (
    DeviceRole,
    SiteKind,
)
from gridshare.wallets.limits import INVESTMENT_MAX

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


class SiteDevicesQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
