"""Communities routes: energy communities, their members, and the energy shared inside them.

Admins and prosumers create communities (the creator is the **referent**); the referent and admins change
them and their members; the referent, real members, admins and operators read them; anyone else gets 404.
What the sharing rules and the energy figures mean: docs/communities.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, EmailStr, Field, StrictInt, field_validator, model_validator

from gridshare.communities import geo
from gridshare.communities.responses import Community, CommunityEnergy, Member, MemberType, Rule, UserType
from gridshare.communities.service import CommunitiesService, communities_service
from gridshare.http.api import ApiBlueprint
from gridshare.http.models import ApiModel, QueryModel, ResolutionRangeQuery, resolution_from_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.ranges import ROLLUP_MAX_DAYS
from gridshare.http.responses import NO_CONTENT, Envelope, Page
from gridshare.kernel.roles import ROLE_ORDER, Caller
from gridshare.ledger.core import CURRENCIES

api = ApiBlueprint("communities")

EDITORS: frozenset[str] = frozenset({"admin", "prosumer"})
"""Who creates communities (becoming referent) and changes them: the referent (a prosumer) and admins."""
READERS: frozenset[str] = frozenset(ROLE_ORDER)
"""Any signed-in role may read a community it runs or is a member of (admins and operators: every one)."""

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


def service() -> CommunitiesService:
    return communities_service()


@api.route(
    "/v1/communities",
    "POST",
    roles=EDITORS,
    body=CommunityBody,
    status=201,
    response=Envelope[Community],
    summary="Create an energy community (the caller becomes its referent): boundary and sharing rule",
)
def create_community(caller: Caller, body: CommunityBody) -> dict:
    return {"data": service().create(caller, body.attributes())}


@api.route(
    "/v1/communities",
    "GET",
    roles=READERS,
    query=ListQuery,
    response=Page[Community],
    summary="The communities the caller runs or is a member of (admins and operators: every one)",
)
def list_communities(caller: Caller, query: ListQuery) -> dict:
    items, cursor = service().list(caller, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route("/v1/communities/{id}", "GET", roles=READERS, response=Envelope[Community], summary="A community")
def get_community(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get(caller, id)}


@api.route(
    "/v1/communities/{id}",
    "PATCH",
    roles=EDITORS,
    body=CommunityPatch,
    response=Envelope[Community],
    summary="Change a community's fields (its referent, or an admin); a new boundary must hold every member's site",
)
def update_community(caller: Caller, id: str, body: CommunityPatch) -> dict:  # noqa: A002
    return {"data": service().update(caller, id, body.attributes(only_set=True))}


@api.route(
    "/v1/communities/{id}",
    "DELETE",
    roles=EDITORS,
    status=204,
    response=NO_CONTENT,
    summary="Delete a community and its memberships (its referent, or an admin)",
)
def delete_community(caller: Caller, id: str) -> None:  # noqa: A002
    service().delete(caller, id)


@api.route(
    "/v1/communities/{id}/members",
    "POST",
    roles=EDITORS,
    body=MemberBody,
    status=201,
    response=Envelope[Member],
    errors=(409,),  # already a member, or the community is full
    summary="Add a member (a user by id or email, or a simulated member with a synthetic profile)",
)
def add_member(caller: Caller, id: str, body: MemberBody) -> dict:  # noqa: A002
    return {"data": service().add_member(caller, id, body.attributes())}


@api.route(
    "/v1/communities/{id}/members",
    "GET",
    roles=READERS,
    query=ListQuery,
    response=Page[Member],
    summary="The community's members",
)
def list_members(caller: Caller, id: str, query: ListQuery) -> dict:  # noqa: A002
    items, cursor = service().list_members(caller, id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/communities/{id}/members/{memberId}",
    "PATCH",
    roles=EDITORS,
    body=MemberPatch,
    response=Envelope[Member],
    summary="Change a member's type, point of delivery, site, coefficient, priority or profile",
)
def update_member(caller: Caller, id: str, memberId: str, body: MemberPatch) -> dict:  # noqa: A002, N803
    return {"data": service().update_member(caller, id, memberId, body.attributes(only_set=True))}


@api.route(
    "/v1/communities/{id}/members/{memberId}",
    "DELETE",
    roles=EDITORS,
    status=204,
    response=NO_CONTENT,
    summary="Remove a member from the community",
)
def remove_member(caller: Caller, id: str, memberId: str) -> None:  # noqa: A002, N803
    service().remove_member(caller, id, memberId)


@api.route(
    "/v1/communities/{id}/energy",
    "GET",
    roles=READERS,
    query=EnergyQuery,
    response=Envelope[CommunityEnergy],
    errors=(409, 503),  # static coefficients do not sum to 1; the members' rollups take too long to read
    summary="The community's production, consumption, shared energy, self-sufficiency and CO2 avoided per interval",
)
def community_energy(caller: Caller, id: str, query: EnergyQuery) -> dict:  # noqa: A002
    window = query.window()
    return {"data": service().energy(caller, id, window.start, window.end, query.resolution, query.detail)}
