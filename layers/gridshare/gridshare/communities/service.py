"""Communities use cases: communities, their members, and the energy shared inside them.

Who may do what (a community another user may not read answers 404, never 403):

- create: admins and prosumers (the route's roles); the creator becomes the community's **referent**;
- read (the community, its members, its energy): its referent, its real members, admins and operators;
- change (the community, its members): its referent and admins.

Other contexts are reached through their services only: identity (a member by id or email), sites (a
member's site: its owner and location; its metered energy per interval). The sharing arithmetic is
:mod:`gridshare.communities.allocation`, synthetic profiles :mod:`gridshare.communities.profiles`, the
boundary :mod:`gridshare.communities.geo`, the community figures :mod:`gridshare.communities.energy`.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gridshare.communities import energy as E
from gridshare.communities import geo, profiles
from gridshare.communities.allocation import IntervalAllocation, coefficients_complete
from gridshare.communities.models import CommunityModel, MemberModel
from gridshare.communities.store import CommunityStore
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.kernel.roles import Caller
from gridshare.kernel.settings import get_settings

if TYPE_CHECKING:
    from gridshare.identity.service import IdentityService
    from gridshare.sites.service import SitesService

__all__ = ["MAX_MEMBERS", "CommunitiesService", "communities_service"]


# Other contexts' services are imported when a request first needs them: listing or reading communities
# loads neither sites nor identity (nor what they import) on a cold start.
def _identity() -> type[IdentityService]:
    from gridshare.identity.service import IdentityService

    return IdentityService


def sites_service() -> SitesService:
    """The sites context's service (gridshare.sites.service.sites_service)."""
    from gridshare.sites.service import sites_service as factory

    return factory()


SEES_ALL = ("admin", "operator")
MAX_MEMBERS = 500
"""Members per community: bounds the energy route's work (one site read per member)."""
MAX_DETAIL_CELLS = 5_000
"""intervals x members of an energy answer with per-member rows per interval (``detail=true``)."""


def community_view(c: CommunityModel) -> dict[str, Any]:
    return {
        "id": c.id,
        "referentId": c.referent_id,
        "name": c.name,
        "description": c.description or "",
        "boundary": c.boundary,
        "sharing": c.sharing,
        "createdAt": to_iso(int(c.created_at)),
        "updatedAt": to_iso(int(c.updated_at)),
    }


def member_view(m: MemberModel) -> dict[str, Any]:
    return {
        "id": m.id,
        "communityId": m.community_id,
        "userId": m.user_id,
        "memberType": m.member_type,
        "userType": m.user_type,
        "pod": m.pod,
        "siteId": m.site_id,
        "coefficient": m.coefficient,
        "priority": int(m.priority) if m.priority is not None else None,
        "profile": m.profile,
        "joinedAt": to_iso(int(m.joined_at)),
        "updatedAt": to_iso(int(m.updated_at)),
    }


def _redacted(m: MemberModel) -> dict[str, Any]:
    """Another member as a member sees it: not who they are, where they connect or which site is theirs."""
    return {**member_view(m), "userId": None, "pod": None, "siteId": None}


def _fraction(text: str | None) -> Fraction:
    return Fraction(text) if text else Fraction(0)


@dataclass
class CommunitiesService:
    store: CommunityStore = field(default_factory=CommunityStore)
    sites: Callable[[], SitesService] = sites_service
    clock: Callable[[], int] = now_ms

    # ------------------------------------------------------------ access
    def _readable(self, caller: Caller, community_id: str) -> CommunityModel:
        community = self.store.get(community_id)
        if caller.role in SEES_ALL or community.referent_id == caller.user_id:
            return community
        if self.store.membership(community.id, caller.user_id) is None:
            raise errors.NotFound("No such community.")
        return community

    def _changeable(self, caller: Caller, community_id: str) -> CommunityModel:
        community = self.store.get(community_id)
        if community.referent_id != caller.user_id and not caller.is_admin:
            raise errors.NotFound("No such community.")
        return community

    def is_member(self, community_id: str, user_id: str) -> bool:
        """Whether the user runs the community (its referent) or is a real member of it; False when there
        is no such community. For a context that checks its own access (market: community-only orders)."""
        community = self.store.find(community_id)
        if community is None:
            return False
        return community.referent_id == user_id or self.store.membership(community.id, user_id) is not None

    def for_settlement(self, hosts: Mapping[str, str] | None = None) -> builtins.list[dict[str, Any]]:
        """Every community as the settlement run reads it, without an access check: ``id``, ``rule``,
        ``priceMinorPerKwh``, ``currency`` and the member ``sites`` (site id -> ``coefficient`` as an exact
        Fraction and ``priority``, lower first) of its real members with a site.

        ``hosts`` (site id -> its host's user id): only the communities one of these sites is a member of
        (what one settlement shard reads): a member's site is its user's own, so the memberships of the
        hosts (the ``by_user`` index, one Query per host) name them; then each such community and its
        members."""
        if hosts is not None:
            wanted = set(hosts)
            ids = {
                m.community_id
                for host in sorted(set(hosts.values()))
                for m in self.store.memberships(host)
                if m.user_type == "real" and m.site_id in wanted
            }
            return sorted((self._settlement_view(c) for c in self.store.many(ids)), key=lambda c: c["id"])
        out: builtins.list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            page, start = self.store.page_all(100, start)
            out.extend(self._settlement_view(c) for c in page)
            if start is None:
                return sorted(out, key=lambda c: c["id"])

    def _settlement_view(self, c: CommunityModel) -> dict[str, Any]:
        sites = {
            m.site_id: {"coefficient": _fraction(m.coefficient), "priority": m.priority}
            for m in self.store.members(c.id)
            if m.user_type == "real" and m.site_id
        }
        return {
            "id": c.id,
            "rule": c.sharing.get("rule", "pro_rata"),
            "priceMinorPerKwh": int(c.sharing.get("priceMinorPerKwh", 0)),
            "currency": c.sharing.get("currency"),
            "sites": sites,
        }

    # ------------------------------------------------------------ communities
    def create(self, caller: Caller, fields: dict[str, Any]) -> dict[str, Any]:
        at = self.clock()
        community = CommunityModel(id=new_id(), referent_id=caller.user_id, created_at=at, updated_at=at, **fields)
        self.store.put_new(community)
        return community_view(community)

    def get(self, caller: Caller, community_id: str) -> dict[str, Any]:
        return community_view(self._readable(caller, community_id))

    def list(self, caller: Caller, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor)
        if caller.role in SEES_ALL:
            items, last = self.store.page_all(limit, start)
            return [community_view(c) for c in items], encode_cursor(last)
        after = None
        if start is not None:
            if start.get("user") != caller.user_id or not isinstance(start.get("after"), str):
                raise errors.BadRequest(
                    "The cursor does not belong to this listing.",
                    errors=[errors.FieldError("cursor", "not from this listing")],
                )
            after = start["after"]
        ids = sorted(i for i in self.store.ids_of_user(caller.user_id) if after is None or i > after)
        found = [c for c in (self.store.find(i) for i in ids[:limit]) if c is not None]
        more = len(ids) > limit
        return [community_view(c) for c in found], encode_cursor(
            {"user": caller.user_id, "after": ids[limit - 1]} if more else None
        )

    def update(self, caller: Caller, community_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        community = self._changeable(caller, community_id)
        boundary = changes.get("boundary")
        if boundary is not None:
            for member in self.store.members(community.id):
                site = self._site(member.site_id) if member.site_id else None
                if site is not None:  # a deleted site is no longer anywhere
                    self._check_inside(boundary, site, "boundary")
        if changes:
            community = self.store.update(community, {**changes, "updated_at": self.clock()})
        return community_view(community)

    def delete(self, caller: Caller, community_id: str) -> None:
        self.store.delete(self._changeable(caller, community_id))

    # ------------------------------------------------------------ members
    def _site(self, site_id: str) -> dict[str, Any] | None:
        try:
            return self.sites().locate(site_id)
        except errors.NotFound:
            return None

    def _check_inside(self, boundary: dict[str, Any] | None, site: dict[str, Any], field_name: str) -> None:
        location = site["location"]
        if boundary is not None and not geo.contains(boundary, float(location["lon"]), float(location["lat"])):
            raise errors.InvalidInput(
                "The site is outside the community's boundary.",
                errors=[errors.FieldError(field_name, "a member's site is outside the boundary")],
            )

    def _member_site(self, community: CommunityModel, member_user_id: str | None, site_id: str) -> None:
        """A member's site must be the member's (a simulated member's: the referent's) and inside the boundary.
        Another user's site answers as a missing one (422 ``siteId``), so no site id can be probed."""
        owner = member_user_id if member_user_id is not None else community.referent_id
        site = self._site(site_id)
        if site is None or site["ownerId"] != owner:
            raise errors.InvalidInput(
                "No such site of the member's (a simulated member's site is the referent's).",
                errors=[errors.FieldError("siteId", "no such site of the member's")],
            )
        self._check_inside(community.boundary, site, "siteId")

    def _user_id(self, fields: dict[str, Any]) -> str:
        user_id, email = fields.pop("user_id", None), fields.pop("email", None)
        if user_id is not None:
            try:
                return str(_identity().get_user(user_id).id)
            except errors.NotFound:
                raise errors.InvalidInput(
                    "No such user.", errors=[errors.FieldError("userId", "no such user")]
                ) from None
        user = _identity().find_by_email(str(email)) if email is not None else None
        if user is None:
            raise errors.InvalidInput("No user with this email.", errors=[errors.FieldError("email", "no such user")])
        return str(user.id)

    @staticmethod
    def _check_coefficients(members: list[MemberModel]) -> None:
        total = sum((_fraction(m.coefficient) for m in members), Fraction(0))
        if total > 1:
            raise errors.InvalidInput(
                "The members' coefficients would sum to more than 1.",
                errors=[errors.FieldError("coefficient", f"the coefficients would sum to {total} (> 1)")],
            )

    def add_member(self, caller: Caller, community_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        community = self._changeable(caller, community_id)
        if self.store.count(community.id) >= MAX_MEMBERS:
            raise errors.Conflict(f"A community has at most {MAX_MEMBERS} members.")
        user_id = self._user_id(fields) if fields["user_type"] == "real" else None
        fields = {k: v for k, v in fields.items() if k not in ("user_id", "email")}
        if user_id is not None and self.store.membership(community.id, user_id) is not None:
            raise errors.Conflict(
                "This user is a member already.", errors=[errors.FieldError("userId", "already a member")]
            )
        if fields.get("site_id"):
            self._member_site(community, user_id, fields["site_id"])
        at = self.clock()
        member = MemberModel(
            community_id=community.id, id=new_id(), user_id=user_id, joined_at=at, updated_at=at, **fields
        )
        self._check_coefficients([*self.store.members(community.id), member])
        self.store.put_member(member)
        return member_view(member)

    def list_members(
        self, caller: Caller, community_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        community = self._readable(caller, community_id)
        start = decode_cursor(cursor)
        if start is not None and start.get("community_id", {}).get("S") != community.id:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        items, last = self.store.members_page(community.id, limit, start)
        sees_all = caller.role in SEES_ALL or community.referent_id == caller.user_id
        views = [member_view(m) if sees_all or m.user_id == caller.user_id else _redacted(m) for m in items]
        return views, encode_cursor(last)

    def update_member(
        self, caller: Caller, community_id: str, member_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        community = self._changeable(caller, community_id)
        member = self.store.member(community.id, member_id)
        if changes.get("site_id"):
            self._member_site(community, member.user_id, changes["site_id"])
        if "profile" in changes and member.user_type != "simulated" and changes["profile"] is not None:
            raise errors.InvalidInput(
                "Only simulated members have a profile.",
                errors=[errors.FieldError("profile", "a real member's energy is metered")],
            )
        for name, value in changes.items():
            setattr(member, name, value)
        others = [m for m in self.store.members(community.id) if m.id != member.id]
        self._check_coefficients([*others, member])
        member.updated_at = self.clock()
        self.store.put_member(member)
        return member_view(member)

    def remove_member(self, caller: Caller, community_id: str, member_id: str) -> None:
        community = self._changeable(caller, community_id)
        self.store.delete_member(self.store.member(community.id, member_id))

    # ------------------------------------------------------------ energy
    def _series(self, members: list[MemberModel], starts: list[int], end: int, source: str) -> list[E.MemberSeries]:
        bounds = [*starts[1:], end]
        out = []
        for m in members:
            if m.user_type == "simulated":
                lon = 0.0
                if m.site_id:
                    with contextlib.suppress(errors.NotFound):  # a deleted site: solar time at lon 0
                        lon = float(self.sites().locate(m.site_id)["location"]["lon"])
                profile = profiles.Profile.of(m.profile or {}, lon)
                energy = [profiles.interval_energy(profile, a, b) for a, b in zip(starts, bounds, strict=True)]
            elif m.site_id:
                energy = [(f.production, f.consumption) for f in self.sites().energy_in(m.site_id, starts, end, source)]
            else:
                energy = [(0, 0)] * len(starts)
            out.append(E.MemberSeries(m.id, energy))
        return out

    def energy(
        self, caller: Caller, community_id: str, start: int, end: int, resolution: E.Resolution, detail: bool
    ) -> dict[str, Any]:
        community = self._readable(caller, community_id)
        members = sorted(self.store.members(community.id), key=lambda m: (int(m.joined_at), m.id))
        starts = E.interval_starts(start, end, resolution)
        if detail and len(starts) * len(members) > MAX_DETAIL_CELLS:
            raise errors.InvalidInput(
                f"detail=true answers at most {MAX_DETAIL_CELLS} intervals x members; ask a shorter span "
                "or a coarser resolution.",
                errors=[errors.FieldError("detail", f"{len(starts)} intervals x {len(members)} members")],
            )
        rule = community.sharing["rule"]
        coefficients = {m.id: _fraction(m.coefficient) for m in members}
        if rule == "static" and not coefficients_complete(coefficients):
            raise errors.Conflict(
                "The members' static coefficients do not sum to exactly 1.",
                errors=[errors.FieldError("coefficient", f"they sum to {sum(coefficients.values(), Fraction(0))}")],
            )
        priority = [m.id for m in sorted(members, key=lambda m: (m.priority is None, int(m.priority or 0)))]
        series = self._series(members, starts, end, E.source_resolution(resolution))
        rows = E.community_energy(series, len(starts), rule, coefficients=coefficients, priority=priority)
        intensity = get_settings().grid_intensity_g_per_kwh
        bounds = [*starts[1:], end]
        per_member: dict[str, dict[str, int]] = {
            m.id: {"production": 0, "consumption": 0, "sharedIn": 0, "sharedOut": 0} for m in members
        }
        intervals = []
        for a, b, row in zip(starts, bounds, rows, strict=True):
            for alloc in row.members:
                sums = per_member[alloc.member_id]
                sums["production"] += alloc.production
                sums["consumption"] += alloc.consumption
                sums["sharedIn"] += alloc.shared_in
                sums["sharedOut"] += alloc.shared_out
            interval = {"start": to_iso(a), "end": to_iso(b), **_figures(E.summarize([row], intensity))}
            if detail:
                interval["members"] = _member_rows(row)
            intervals.append(interval)
        return {
            "communityId": community.id,
            "rule": rule,
            "resolution": resolution,
            "from": to_iso(start),
            "to": to_iso(end),
            "gridIntensityGPerKwh": intensity,
            "intervals": intervals,
            "totals": _figures(E.summarize(rows, intensity)),
            "members": [{"memberId": m.id, "userType": m.user_type, **per_member[m.id]} for m in members],
        }


def _figures(s: E.Summary) -> dict[str, Any]:
    return {
        "production": s.production,
        "consumption": s.consumption,
        "selfConsumed": s.self_consumed,
        "shared": s.shared,
        "gridImport": s.grid_import,
        "gridExport": s.grid_export,
        "selfSufficiency": s.self_sufficiency,
        "co2AvoidedG": s.co2_avoided_g,
    }


def _member_rows(row: IntervalAllocation) -> list[dict[str, Any]]:
    return [
        {
            "memberId": a.member_id,
            "production": a.production,
            "consumption": a.consumption,
            "deficit": a.deficit,
            "surplus": a.surplus,
            "sharedIn": a.shared_in,
            "sharedOut": a.shared_out,
        }
        for a in row.members
    ]


communities_service = ServiceFactory(CommunitiesService)
