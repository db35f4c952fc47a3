"""The devices context's tables: the device registry."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class DevicesByOwner(GlobalSecondaryIndex["DeviceModel"]):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class DevicesByThing(GlobalSecondaryIndex["DeviceModel"]):
    class Meta:
        index_name = "by_thing"
        projection = AllProjection()

    thing_name = UnicodeAttribute(hash_key=True)


class DeviceModel(Model):
    class Meta(TableMeta):
        logical_name = "devices"

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    thing_name = UnicodeAttribute()
    certificate_id = UnicodeAttribute()
    certificate_arn = UnicodeAttribute()
    status = UnicodeAttribute(default="provisioned")
    created_at = NumberAttribute()
    by_owner = DevicesByOwner()
    by_thing = DevicesByThing()


TABLES: tuple[type[Model], ...] = (DeviceModel,)
