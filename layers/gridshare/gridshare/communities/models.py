"""The communities context's tables: communities (their referent, boundary, sharing rule) and members."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class CommunitiesByReferent(GlobalSecondaryIndex["CommunityModel"]):
    class Meta:
        index_name = "by_referent"
        projection = AllProjection()

    referent_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class CommunityModel(Model):
    """An energy community: its referent (the user who runs it), boundary and sharing rule."""

    class Meta(TableMeta):
        logical_name = "communities"

    id = UnicodeAttribute(hash_key=True)
    referent_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    boundary = JSONAttribute(null=True)
    sharing = JSONAttribute()  # {"rule", "priceMinorPerKwh", "currency"}
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_referent = CommunitiesByReferent()


class MembersByUser(GlobalSecondaryIndex["MemberModel"]):
    """Sparse: only real members have a user id."""

    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    community_id = UnicodeAttribute(range_key=True)


class MemberModel(Model):
    """A member of a community: a real user (``user_id``) or a simulated one (a synthetic ``profile``)."""

    class Meta(TableMeta):
        logical_name = "community_members"

    community_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute(null=True)
    member_type = UnicodeAttribute()  # consumer | producer | prosumer
    user_type = UnicodeAttribute()  # real | simulated
    pod = UnicodeAttribute(null=True)  # point of delivery (the grid connection's code)
    site_id = UnicodeAttribute(null=True)
    coefficient = UnicodeAttribute(null=True)  # an exact decimal string, e.g. "0.25" (static rule)
    priority = NumberAttribute(null=True)  # lower first (priority rule)
    profile = JSONAttribute(null=True)  # {"annualLoadKwh", "pvKwp"} (simulated members)
    joined_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_user = MembersByUser()


TABLES: tuple[type[Model], ...] = (CommunityModel, MemberModel)
