"""Communities made through the service for tests that check access, not creation (the authorization
matrix): a community whose referent is a given user, whatever its role, with simulated members."""

from __future__ import annotations

from typing import Any

SIMULATED_MEMBER: dict[str, Any] = {
    "memberType": "prosumer",
    "userType": "simulated",
    "profile": {"annualLoadKwh": 3500, "pvKwp": 4},
}


def _caller(user_id: str, role: str) -> Any:
    from gridshare.kernel.roles import Caller

    return Caller(user_id, user_id, role, (role,), 0, "tests")


def create_community(user_id: str, role: str, name: str) -> str:
    """A pro-rata community with no boundary, referent ``user_id``, and one simulated member."""
    from gridshare.communities.service import communities_service

    caller = _caller(user_id, role)
    fields = {
        "name": name,
        "description": "",
        "boundary": None,
        "sharing": {"rule": "pro_rata", "priceMinorPerKwh": 10, "currency": "EUR"},
    }
    community_id = str(communities_service().create(caller, fields)["id"])
    add_simulated_member(user_id, role, community_id)
    return community_id


def add_simulated_member(user_id: str, role: str, community_id: str) -> str:
    from gridshare.communities.service import communities_service

    member = {"member_type": "prosumer", "user_type": "simulated", "profile": {"annualLoadKwh": 3500, "pvKwp": 4}}
    return str(communities_service().add_member(_caller(user_id, role), community_id, member)["id"])


def first_member(user_id: str, role: str, community_id: str) -> str:
    from gridshare.communities.service import communities_service

    items, _ = communities_service().list_members(_caller(user_id, role), community_id, 1, None)
    return str(items[0]["id"])
