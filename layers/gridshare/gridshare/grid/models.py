"""The grid context's tables: the grid's nodes and the connections between them (one grid per deployment)."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class GridNodeModel(Model):
    """A node: generator, substation, transformer, feeder, load or storage, and the meters that measure it.

    ``degree`` counts its connections; it moves in the same transaction as a connection is written or
    deleted, and a node is deleted only on condition ``degree = 0``, so no connection is left dangling.
    """

    class Meta(TableMeta):
        logical_name = "grid_nodes"

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    capacity_kw = NumberAttribute()
    voltage_v = NumberAttribute()
    location = JSONAttribute()
    device_ids = ListAttribute(of=UnicodeAttribute, default=list)
    degree = NumberAttribute(default=0)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class GridConnectionModel(Model):
    """A connection between two nodes. ``pair`` (the sorted node ids) is the id of a companion item in the
    same table (``kind = pair``) written in the same transaction on condition it is absent, so a pair of
    nodes has at most one connection, in either direction."""

    class Meta(TableMeta):
        logical_name = "grid_connections"

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="connection")  # connection | pair
    from_node_id = UnicodeAttribute(null=True)
    to_node_id = UnicodeAttribute(null=True)
    capacity_kw = NumberAttribute(null=True)
    impedance_ohm = NumberAttribute(null=True)
    pair = UnicodeAttribute(null=True)
    created_at = NumberAttribute(null=True)


TABLES: tuple[type[Model], ...] = (GridNodeModel, GridConnectionModel)
