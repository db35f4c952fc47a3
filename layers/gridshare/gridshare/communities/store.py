"""DynamoDB storage of communities and their members; PynamoDB errors become kernel errors here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from gridshare.communities.models import CommunityModel, MemberModel
from gridshare.kernel import errors
from gridshare.kernel.tables import failed_condition

__all__ = ["CommunityStore"]


@dataclass
class CommunityStore:
    # ------------------------------------------------------------ communities
    def get(self, community_id: str) -> CommunityModel:
        try:
            return CommunityModel.get(community_id, consistent_read=True)
        except DoesNotExist:
            raise errors.NotFound("No such community.") from None

    def find(self, community_id: str) -> CommunityModel | None:
        try:
            return CommunityModel.get(community_id, consistent_read=True)
        except DoesNotExist:
            return None

    def put_new(self, community: CommunityModel) -> None:
        try:
            community.save(condition=CommunityModel.id.does_not_exist())
        except PutError as exc:
            if failed_condition(exc):
                raise errors.Conflict("A community with this id exists.") from None
            raise

    def update(self, community: CommunityModel, changes: dict[str, Any]) -> CommunityModel:
        for name, value in changes.items():
            setattr(community, name, value)
        community.save(condition=CommunityModel.id.exists())
        return community

    def delete(self, community: CommunityModel) -> None:
        for member in self.members(community.id):
            member.delete()
        try:
            community.delete(condition=CommunityModel.id.exists())
        except DeleteError as exc:
            if failed_condition(exc):
                raise errors.NotFound("No such community.") from None
            raise

    def page_all(self, limit: int, start: dict[str, Any] | None) -> tuple[list[CommunityModel], dict[str, Any] | None]:
        result = CommunityModel.scan(limit=limit, last_evaluated_key=start)
        return list(result), result.last_evaluated_key

    def ids_of_user(self, user_id: str) -> set[str]:
        """Communities the user runs (referent) or is a member of."""
        ids = {c.id for c in CommunityModel.by_referent.query(user_id)}
        ids.update(m.community_id for m in MemberModel.by_user.query(user_id))
        return ids

    def many(self, community_ids: Iterable[str]) -> list[CommunityModel]:
        """The communities of these ids that exist (BatchGetItem, consistent reads)."""
        keys = sorted(set(community_ids))
        return list(CommunityModel.batch_get(keys, consistent_read=True)) if keys else []

    def memberships(self, user_id: str) -> list[MemberModel]:
        """A user's member items in every community (the ``by_user`` index)."""
        return list(MemberModel.by_user.query(user_id))

    # ------------------------------------------------------------ members
    def members(self, community_id: str) -> list[MemberModel]:
        return list(MemberModel.query(community_id, consistent_read=True))

    def members_page(
        self, community_id: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[MemberModel], dict[str, Any] | None]:
        result = MemberModel.query(community_id, limit=limit, last_evaluated_key=start, consistent_read=True)
        return list(result), result.last_evaluated_key

    def member(self, community_id: str, member_id: str) -> MemberModel:
        try:
            return MemberModel.get(community_id, member_id, consistent_read=True)
        except DoesNotExist:
            raise errors.NotFound("No such member.") from None

    def membership(self, community_id: str, user_id: str) -> MemberModel | None:
        for item in MemberModel.by_user.query(user_id, MemberModel.community_id == community_id, limit=1):
            return item
        return None

    def count(self, community_id: str) -> int:
        return int(MemberModel.count(community_id, consistent_read=True))

    def put_member(self, member: MemberModel) -> None:
        member.save()

    def delete_member(self, member: MemberModel) -> None:
        try:
            member.delete(condition=MemberModel.id.exists())
        except DeleteError as exc:
            if failed_condition(exc):
                raise errors.NotFound("No such member.") from None
            raise
