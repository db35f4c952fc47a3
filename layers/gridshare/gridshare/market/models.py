"""The market context's tables: orders (by user, by interval), trades (by interval, buyer, seller), intervals."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class OrdersByUser(GlobalSecondaryIndex["OrderModel"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class OrdersByInterval(GlobalSecondaryIndex["OrderModel"]):
    """Every order of a delivery interval: what clearing and the order book read."""

    class Meta:
        index_name = "by_interval"
        projection = AllProjection()

    interval_start = NumberAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class OrderModel(Model):
    """A BID or ASK for one delivery interval; ``filled_wh`` and ``status`` are written by clearing."""

    class Meta(TableMeta):
        logical_name = "market_orders"

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    side = UnicodeAttribute()  # BID | ASK
    interval_start = NumberAttribute()  # epoch ms
    energy_wh = NumberAttribute()
    limit_price = NumberAttribute()  # minor units per kWh
    currency = UnicodeAttribute()
    site_id = UnicodeAttribute(null=True)
    community_id = UnicodeAttribute(null=True)
    community_only = BooleanAttribute(default=False)
    status = UnicodeAttribute(default="open")
    filled_wh = NumberAttribute(default=0)
    reserved_minor = NumberAttribute(default=0)  # BID: the worst-case cost held in escrow
    released_minor = NumberAttribute(default=0)  # BID: what went back (cancelled or unfilled)
    reservation_tx_id = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_user = OrdersByUser()
    by_interval = OrdersByInterval()


class TradesByInterval(GlobalSecondaryIndex["TradeModel"]):
    class Meta:
        index_name = "by_interval"
        projection = AllProjection()

    interval_start = NumberAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class TradesByBuyer(GlobalSecondaryIndex["TradeModel"]):
    class Meta:
        index_name = "by_buyer"
        projection = AllProjection()

    buyer_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class TradesBySeller(GlobalSecondaryIndex["TradeModel"]):
    class Meta:
        index_name = "by_seller"
        projection = AllProjection()

    seller_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class TradeModel(Model):
    """A match of a BID and an ASK: its id is derived from the interval and both orders (rules.trade_id)."""

    class Meta(TableMeta):
        logical_name = "market_trades"

    id = UnicodeAttribute(hash_key=True)
    interval_start = NumberAttribute()
    buy_order_id = UnicodeAttribute()
    sell_order_id = UnicodeAttribute()
    buyer_id = UnicodeAttribute()
    seller_id = UnicodeAttribute()
    energy_wh = NumberAttribute()
    price = NumberAttribute()  # minor units per kWh, to the seller
    grid_fee = NumberAttribute()  # minor units per kWh, to the grid
    currency = UnicodeAttribute()
    created_at = NumberAttribute()
    by_interval = TradesByInterval()
    by_buyer = TradesByBuyer()
    by_seller = TradesBySeller()


class IntervalModel(Model):
    """The clearing record of a delivery interval: put once (conditionally), then marked cleared."""

    class Meta(TableMeta):
        logical_name = "market_intervals"

    interval_start = NumberAttribute(hash_key=True)
    status = UnicodeAttribute()  # clearing | cleared | settled
    mechanism = UnicodeAttribute()
    clearing_price = NumberAttribute(null=True)
    cleared_energy_wh = NumberAttribute(default=0)
    trade_count = NumberAttribute(default=0)
    participants = NumberAttribute(default=0)
    vwap = NumberAttribute(null=True)  # minor units per kWh, energy-weighted, rounded half up
    price_min = NumberAttribute(null=True)
    price_max = NumberAttribute(null=True)
    turnover_minor = NumberAttribute(default=0)  # what buyers pay sellers (without grid fees)
    started_at = NumberAttribute()
    cleared_at = NumberAttribute(null=True)
    swept_through = NumberAttribute(null=True)  # only on the sweep item (store.SWEEP_KEY)


TABLES: tuple[type[Model], ...] = (OrderModel, TradeModel, IntervalModel)
