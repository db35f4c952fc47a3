"""Sites' response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridshare.http.responses import ResponseModel, Timestamp

SiteKind = Literal["solar", "wind", "battery", "mixed"]
DeviceRole = Literal["production", "consumption", "storage", "grid_meter"]


class PanelsOut(ResponseModel):
    count: int
    watt_peak: int | float
    tilt_deg: int | float
    azimuth_deg: int | float


class LocationOut(ResponseModel):
    lat: float
    lon: float


class TariffOut(ResponseModel):
    currency: str
    retail_minor_per_kwh: int
    feed_in_minor_per_kwh: int


class Site(ResponseModel):
    """A plant (sites.service.site_view)."""

    id: str
    owner_id: str = Field(description="the host: the user who owns the site")
    name: str
    kind: SiteKind
    capacity_kw: int | float
    panels: PanelsOut | None
    location: LocationOut
    timezone: str = Field(description="IANA time zone: the site's local days")
    tariff: TariffOut
    created_at: Timestamp
    updated_at: Timestamp


class SiteDevice(ResponseModel):
    site_id: str
    device_id: str
    role: DeviceRole
    attached_at: Timestamp


class EnergyFigures(ResponseModel):
    """Wh in the interval (docs/sites.md says which counter of which role feeds which figure)."""

    production: int = Field(ge=0)
    consumption: int = Field(ge=0)
    export: int = Field(ge=0)
    import_: int = Field(ge=0, alias="import")
    self_consumption: int = Field(ge=0, description="produced and used on site: <= production, <= consumption")
    self_sufficiency: float | None = Field(ge=0, le=1, description="selfConsumption / consumption; null if 0 consumed")


class EnergyInterval(EnergyFigures):
    start: Timestamp
    end: Timestamp


class SiteEnergy(ResponseModel):
    site_id: str
    resolution: Literal["15m", "1h", "1d"]
    timezone: str
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    devices: int = Field(ge=0, description="attached devices read")
    intervals: list[EnergyInterval]
    totals: EnergyFigures


class Investment(ResponseModel):
    id: str
    site_id: str
    investor_id: str
    amount: int = Field(description="minor units")
    currency: str
    transaction_id: str = Field(
        description="the ledger transaction: investor's wallet -> the site's investment account"
    )
    created_at: Timestamp


class Fraction(ResponseModel):
    """An exact share, reduced."""

    numerator: int = Field(ge=0)
    denominator: int = Field(ge=1)


class SiteInvestor(ResponseModel):
    investor_id: str
    invested: int = Field(description="minor units of the site's currency")
    share: Fraction
    percent: float = Field(description="share x 100, rounded to 4 decimals (display only)")


class SiteInvestors(ResponseModel):
    site_id: str
    currency: str
    total_invested: int
    investors: list[SiteInvestor]


class Holding(ResponseModel):
    site_id: str
    name: str
    kind: SiteKind
    currency: str
    invested: int
    share: Fraction
    percent: float
    returns: int = Field(description="investor payouts of the site's sales received to date, minor units")


class Portfolio(ResponseModel):
    sites: list[Holding]
