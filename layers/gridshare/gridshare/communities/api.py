"""Communities routes: energy communities, their members, and the energy shared inside them.

Admins and prosumers create communities (the creator is the **referent**); the referent and admins change
them and their members; the referent, real members, admins and operators read them; anyone else gets 404.
What the sharing rules and the energy figures mean: docs/communities.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.communities.service import CommunitiesService, communities_service
from gridshare.http.api import ApiBlueprint
from gridshare.http.no_content import NO_CONTENT
from gridshare.http.pagination import page
from gridshare.kernel.roles import ROLE_ORDER, Caller

if TYPE_CHECKING:
    from gridshare.communities.requests import (
        CommunityBody,
        CommunityPatch,
        EnergyQuery,
        ListQuery,
        MemberBody,
        MemberPatch,
    )

api = ApiBlueprint("communities")

EDITORS: frozenset[str] = frozenset({"admin", "prosumer"})
"""Who creates communities (becoming referent) and changes them: the referent (a prosumer) and admins."""
READERS: frozenset[str] = frozenset(ROLE_ORDER)
"""Any signed-in role may read a community it runs or is a member of (admins and operators: every one)."""


def service() -> CommunitiesService:
    return communities_service()


@api.route(
    "/v1/communities",
    "POST",
    roles=EDITORS,
    body="CommunityBody",
    status=201,
    response="Envelope[Community]",
    summary="Create an energy community (the caller becomes its referent): boundary and sharing rule",
)
def create_community(caller: Caller, body: CommunityBody) -> dict:
    return {"data": service().create(caller, body.attributes())}


@api.route(
    "/v1/communities",
    "GET",
    roles=READERS,
    query="ListQuery",
    response="Page[Community]",
    summary="The communities the caller runs or is a member of (admins and operators: every one)",
)
def list_communities(caller: Caller, query: ListQuery) -> dict:
    items, cursor = service().list(caller, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route("/v1/communities/{id}", "GET", roles=READERS, response="Envelope[Community]", summary="A community")
def get_community(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().get(caller, id)}


@api.route(
    "/v1/communities/{id}",
    "PATCH",
    roles=EDITORS,
    body="CommunityPatch",
    response="Envelope[Community]",
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
    body="MemberBody",
    status=201,
    response="Envelope[Member]",
    errors=(409,),  # already a member, or the community is full
    summary="Add a member (a user by id or email, or a simulated member with a synthetic profile)",
)
def add_member(caller: Caller, id: str, body: MemberBody) -> dict:  # noqa: A002
    return {"data": service().add_member(caller, id, body.attributes())}


@api.route(
    "/v1/communities/{id}/members",
    "GET",
    roles=READERS,
    query="ListQuery",
    response="Page[Member]",
    summary="The community's members",
)
def list_members(caller: Caller, id: str, query: ListQuery) -> dict:  # noqa: A002
    items, cursor = service().list_members(caller, id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/communities/{id}/members/{memberId}",
    "PATCH",
    roles=EDITORS,
    body="MemberPatch",
    response="Envelope[Member]",
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
    query="EnergyQuery",
    response="Envelope[CommunityEnergy]",
    errors=(409, 503),  # static coefficients do not sum to 1; the members' rollups take too long to read
    summary="The community's production, consumption, shared energy, self-sufficiency and CO2 avoided per interval",
)
def community_energy(caller: Caller, id: str, query: EnergyQuery) -> dict:  # noqa: A002
    window = query.window()
    return {"data": service().energy(caller, id, window.start, window.end, query.resolution, query.detail)}
