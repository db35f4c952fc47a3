"""The communities context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the communities api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, EmailStr, Field, StrictInt, field_validator, model_validator

from gridshare.communities import geo
from gridshare.communities.responses import MemberType, Rule, UserType
from gridshare.http.models import ApiModel, QueryModel, ResolutionRangeQuery, resolution_from_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gridshare.http.ranges import ROLLUP_MAX_DAYS
from gridshare.ledger.assets import CURRENCIES

ENERGY_MAX_DAYS: dict[str, int] = ROLLUP_MAX_DAYS
"""The longest `to - from` of an energy request per resolution (as for sites)."""


Number = Annotated[float, Field(allow_inf_nan=False)]


COEFFICIENT = r"^(0(\.[0-9]{1,12})?|1(\.0{1,12})?|[0-9]{1,9}/[1-9][0-9]{0,8})$"


COEFFICIENT_HELP = (
    'static rule: the member\'s exact share in [0, 1]: a decimal ("0.25", or the number 0.25) or a fraction ("1/3")'
)


def _coefficient(value: object) -> str | None:
    """An exact share as a string: a decimal or fraction string, or a JSON number by its shortest decimal."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a decimal string, a fraction string or a number")
    text = value if isinstance(value, str) else repr(float(value)) if isinstance(value, float) else str(value)
    if not re.fullmatch(COEFFICIENT, text):
        raise ValueError('a share in [0, 1]: "0.25", 0.25 or "1/3"')
    share = Fraction(text)
    if not 0 <= share <= 1:
        raise ValueError("a share in [0, 1]")
    return text


Coefficient = Annotated[
    str | float | None,
    BeforeValidator(_coefficient),
    Field(default=None, description=COEFFICIENT_HELP),
]


class Sharing(ApiModel):
    rule: Rule
    price_minor_per_kwh: StrictInt = Field(ge=0, le=1_000_000, description="minor units per kWh shared")
    currency: str = Field(description="ISO 4217", json_schema_extra={"enum": sorted(CURRENCIES)})

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("not a supported ISO 4217 currency")
        return value


def _boundary(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and (problem := geo.polygon_problem(value)) is not None:
        raise ValueError(problem)
    return value


Boundary = Annotated[
    dict[str, Any] | None,
    Field(default=None, description='GeoJSON Polygon {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}'),
]


class CommunityBody(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2_000)
    boundary: Boundary = None
    sharing: Sharing

    @field_validator("boundary")
    @classmethod
    def _check_boundary(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _boundary(value)


class CommunityPatch(ApiModel):
    """Any of a community's fields; those left out stay (`boundary: null` removes the boundary)."""

    EMPTY_BODY_ALLOWED: ClassVar[bool] = True

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2_000)
    boundary: Boundary = None
    sharing: Sharing | None = None

    @field_validator("boundary")
    @classmethod
    def _check_boundary(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _boundary(value)

    @model_validator(mode="after")
    def _no_nulls(self) -> CommunityPatch:
        for name in ("name", "description", "sharing"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class Profile(ApiModel):
    annual_load_kwh: Number = Field(ge=0, le=10_000_000)
    pv_kwp: Number = Field(ge=0, le=100_000)


class MemberBody(ApiModel):
    """A real member (`userId` or `email`, not both) or a simulated one (a `profile`, no user)."""

    user_id: str | None = Field(default=None, min_length=1, max_length=64)
    email: EmailStr | None = None
    member_type: MemberType
    user_type: UserType
    pod: str | None = Field(default=None, min_length=1, max_length=64, description="point of delivery")
    site_id: str | None = Field(default=None, min_length=1, max_length=64, description="inside the boundary")
    coefficient: Coefficient = None
    priority: StrictInt | None = Field(default=None, ge=0, le=1_000_000, description="priority rule: lower first")
    profile: Profile | None = Field(default=None, description="simulated members: their synthetic profile")

    @model_validator(mode="after")
    def _who(self) -> MemberBody:
        if self.user_type == "real":
            if (self.user_id is None) == (self.email is None):
                raise ValueError("a real member needs userId or email (one of them)")
            if self.profile is not None:
                raise ValueError("a real member's energy is metered: no profile")
        else:
            if self.user_id is not None or self.email is not None:
                raise ValueError("a simulated member has no userId or email")
            if self.profile is None:
                raise ValueError("a simulated member needs a profile")
        return self


class MemberPatch(ApiModel):
    EMPTY_BODY_ALLOWED: ClassVar[bool] = True

    member_type: MemberType | None = None
    pod: str | None = Field(default=None, min_length=1, max_length=64)
    site_id: str | None = Field(default=None, min_length=1, max_length=64)
    coefficient: Coefficient = None
    priority: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    profile: Profile | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> MemberPatch:
        for name in ("member_type", "profile"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ListQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class EnergyQuery(ResolutionRangeQuery):
    """Defaults: `to` now, `from` 24 h before `to`; the span is bounded per resolution (ENERGY_MAX_DAYS)."""

    MAX_DAYS: ClassVar[Mapping[str, int]] = ENERGY_MAX_DAYS

    from_: str | None = resolution_from_param(ENERGY_MAX_DAYS)
    resolution: Literal["15m", "1h", "1d"] = Field(default="1h", description="UTC-aligned intervals (1d: UTC days)")
    detail: bool = Field(default=False, description="each interval's per-member allocation (bounded)")
