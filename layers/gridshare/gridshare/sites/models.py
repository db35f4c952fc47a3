"""The sites context's tables: sites (plants), the devices attached to them, investments in them."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class SitesByOwner(GlobalSecondaryIndex["SiteModel"]):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class SiteModel(Model):
    """A plant: its kind, capacity, panels, location, time zone (its local days) and tariff."""

    class Meta(TableMeta):
        logical_name = "sites"

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    capacity_kw = NumberAttribute()
    panels = JSONAttribute(null=True)
    location = JSONAttribute()
    timezone = UnicodeAttribute()
    tariff = JSONAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_owner = SitesByOwner()


class SiteDevicesBySite(GlobalSecondaryIndex["SiteDeviceModel"]):
    class Meta:
        index_name = "by_site"
        projection = AllProjection()

    site_id = UnicodeAttribute(hash_key=True)
    device_id = UnicodeAttribute(range_key=True)


class SiteDeviceModel(Model):
    """A device's place on a site, keyed by the device: a device is on at most one site."""

    class Meta(TableMeta):
        logical_name = "site_devices"

    device_id = UnicodeAttribute(hash_key=True)
    site_id = UnicodeAttribute()
    role = UnicodeAttribute()
    attached_at = NumberAttribute()
    by_site = SiteDevicesBySite()


class InvestmentsByInvestor(GlobalSecondaryIndex["InvestmentModel"]):
    class Meta:
        index_name = "by_investor"
        projection = AllProjection()

    investor_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class InvestmentModel(Model):
    """One investment in a site. Written ``pending`` BEFORE its ledger transaction (``transaction_id``) is
    posted and marked ``posted`` after, so money never moves without a record of whose it is."""

    class Meta(TableMeta):
        logical_name = "site_investments"

    site_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    investor_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    transaction_id = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")  # pending | posted
    created_at = NumberAttribute()
    by_investor = InvestmentsByInvestor()


TABLES: tuple[type[Model], ...] = (SiteModel, SiteDeviceModel, InvestmentModel)
