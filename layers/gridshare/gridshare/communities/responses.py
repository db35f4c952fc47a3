"""Communities' response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gridshare.http.responses import Absent, ResponseModel, Timestamp, absent

Rule = Literal["pro_rata", "static", "priority"]
MemberType = Literal["consumer", "producer", "prosumer"]
UserType = Literal["real", "simulated"]


class SharingOut(ResponseModel):
    rule: Rule
    price_minor_per_kwh: int
    currency: str


class Community(ResponseModel):
    """An energy community (communities.service.community_view)."""

    id: str
    referent_id: str = Field(description="the user who runs the community (its creator)")
    name: str
    description: str
    boundary: dict[str, Any] | None = Field(description="GeoJSON Polygon; members' sites must be inside it")
    sharing: SharingOut
    created_at: Timestamp
    updated_at: Timestamp


class ProfileOut(ResponseModel):
    annual_load_kwh: int | float
    pv_kwp: int | float


class Member(ResponseModel):
    id: str
    community_id: str
    user_id: str | None = Field(
        description="the member's user; null for a simulated member, and for other members as a member sees them"
    )
    member_type: MemberType
    user_type: UserType
    pod: str | None = Field(description="point of delivery (grid connection code)")
    site_id: str | None
    coefficient: str | None = Field(description='static rule: the member\'s exact share ("0.25", "1/3")')
    priority: int | None = Field(description="priority rule: lower is served first; null after all others")
    profile: ProfileOut | None = Field(description="simulated members: the synthetic profile's parameters")
    joined_at: Timestamp
    updated_at: Timestamp


class CommunityFigures(ResponseModel):
    """Wh (docs/communities.md): what the members produced and used, and what the rule shared."""

    production: int = Field(ge=0)
    consumption: int = Field(ge=0)
    self_consumed: int = Field(ge=0, description="used by the member who produced it")
    shared: int = Field(ge=0, description="moved between members: sum of sharedIn == sum of sharedOut")
    grid_import: int = Field(ge=0)
    grid_export: int = Field(ge=0)
    self_sufficiency: float | None = Field(ge=0, le=1, description="(selfConsumed + shared) / consumption")
    co2_avoided_g: int = Field(ge=0, description="(selfConsumed + shared) kWh x the grid's gCO2/kWh")


class MemberAllocation(ResponseModel):
    member_id: str
    production: int = Field(ge=0)
    consumption: int = Field(ge=0)
    deficit: int = Field(ge=0)
    surplus: int = Field(ge=0)
    shared_in: int = Field(ge=0, description="<= deficit")
    shared_out: int = Field(ge=0, description="<= surplus")


class CommunityInterval(CommunityFigures):
    start: Timestamp
    end: Timestamp
    members: Absent[list[MemberAllocation]] = absent("per member, with detail=true")


class MemberTotals(ResponseModel):
    member_id: str
    user_type: UserType
    production: int = Field(ge=0)
    consumption: int = Field(ge=0)
    shared_in: int = Field(ge=0)
    shared_out: int = Field(ge=0)


class CommunityEnergy(ResponseModel):
    community_id: str
    rule: Rule
    resolution: Literal["15m", "1h", "1d"]
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    grid_intensity_g_per_kwh: int = Field(description="from configuration (GS_GRID_INTENSITY_G_PER_KWH)")
    intervals: list[CommunityInterval]
    totals: CommunityFigures
    members: list[MemberTotals]
