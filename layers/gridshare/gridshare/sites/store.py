"""DynamoDB storage of sites, their devices and investments; PynamoDB errors become kernel errors here.

Invariants:
- a device is on at most one site: its attachment item is keyed by the device and written on condition
  that it is absent or already on the same site (then only its role changes);
- an investment item is written ``pending`` before its ledger transaction is posted and marked ``posted``
  after (removed if the ledger refused it), under an id derived from the request's Idempotency-Key, so a
  retry rewrites the same item; a ``pending`` item whose transaction is in the ledger is a posted one
  whose marking was interrupted (the service settles it when it reads it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from gridshare.kernel import errors
from gridshare.kernel.tables import failed_condition
from gridshare.sites.models import InvestmentModel, SiteDeviceModel, SiteModel

__all__ = ["DeviceOnAnotherSite", "SiteStore"]


class DeviceOnAnotherSite(errors.Conflict):
    """The device is attached to another site; detach it there first (409)."""


@dataclass
class SiteStore:
    # ------------------------------------------------------------ sites
    def get(self, site_id: str) -> SiteModel:
        try:
            return SiteModel.get(site_id, consistent_read=True)
        except DoesNotExist:
            raise errors.NotFound("No such site.") from None

    def all(self) -> Iterator[SiteModel]:
        """Every site (a full scan: the settlement run's inputs, not a request path)."""
        return iter(SiteModel.scan())

    def many(self, site_ids: Iterable[str]) -> list[SiteModel]:
        """The sites of these ids that exist (BatchGetItem, 100 keys a request, consistent reads)."""
        keys = sorted(set(site_ids))
        return list(SiteModel.batch_get(keys, consistent_read=True)) if keys else []

    def put_new(self, site: SiteModel) -> None:
        try:
            site.save(condition=SiteModel.id.does_not_exist())
        except PutError as exc:
            if failed_condition(exc):
                raise errors.Conflict("A site with this id exists.") from None
            raise

    def update(self, site: SiteModel, changes: dict[str, Any]) -> SiteModel:
        for name, value in changes.items():
            setattr(site, name, value)
        site.save(condition=SiteModel.id.exists())
        return site

    def delete(self, site: SiteModel) -> None:
        try:
            site.delete(condition=SiteModel.id.exists())
        except DeleteError as exc:
            if failed_condition(exc):
                raise errors.NotFound("No such site.") from None
            raise

    def owned_page(
        self, owner_id: str | None, kind: str | None, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[SiteModel], dict[str, Any] | None]:
        """A page of an owner's sites (every site with ``owner_id`` None), optionally of one kind."""
        condition = (SiteModel.kind == kind) if kind is not None else None
        if owner_id is None:
            result = SiteModel.scan(filter_condition=condition, limit=limit, last_evaluated_key=start)
        else:
            result = SiteModel.by_owner.query(
                owner_id, filter_condition=condition, limit=limit, last_evaluated_key=start, scan_index_forward=False
            )
        return list(result), result.last_evaluated_key

    # ------------------------------------------------------------ devices
    def attachment(self, device_id: str) -> SiteDeviceModel | None:
        try:
            return SiteDeviceModel.get(device_id, consistent_read=True)
        except DoesNotExist:
            return None

    def attach(self, site_id: str, device_id: str, role: str, at: int) -> SiteDeviceModel:
        item = SiteDeviceModel(device_id=device_id, site_id=site_id, role=role, attached_at=at)
        current = self.attachment(device_id)
        if current is not None and current.site_id == site_id:
            item.attached_at = current.attached_at
        try:
            item.save(condition=SiteDeviceModel.device_id.does_not_exist() | (SiteDeviceModel.site_id == site_id))
        except PutError as exc:
            if failed_condition(exc):
                raise DeviceOnAnotherSite("The device is on another site; detach it there first.") from None
            raise
        return item

    def move(self, from_site: str, to_site: str, device_id: str, role: str, at: int) -> SiteDeviceModel:
        """Move a device's attachment on condition it is still on ``from_site`` (else 409: it changed)."""
        item = SiteDeviceModel(device_id=device_id, site_id=to_site, role=role, attached_at=at)
        try:
            item.save(condition=SiteDeviceModel.site_id == from_site)
        except PutError as exc:
            if failed_condition(exc):
                raise DeviceOnAnotherSite("The device's site changed meanwhile; read it and try again.") from None
            raise
        return item

    def detach(self, site_id: str, device_id: str) -> None:
        try:
            SiteDeviceModel(device_id=device_id).delete(condition=SiteDeviceModel.site_id == site_id)
        except DeleteError as exc:
            if not failed_condition(exc):
                raise  # not on this site (or on no site): nothing to detach

    def devices(self, site_id: str) -> list[SiteDeviceModel]:
        return list(SiteDeviceModel.by_site.query(site_id))

    def devices_page(
        self, site_id: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[SiteDeviceModel], dict[str, Any] | None]:
        result = SiteDeviceModel.by_site.query(site_id, limit=limit, last_evaluated_key=start)
        return list(result), result.last_evaluated_key

    def has_devices(self, site_id: str) -> bool:
        return any(True for _ in SiteDeviceModel.by_site.query(site_id, limit=1))

    # ------------------------------------------------------------ investments
    def add_investment(self, item: InvestmentModel) -> None:
        item.save()  # same id on a retry (from the Idempotency-Key): the same item again

    def mark_posted(self, item: InvestmentModel) -> None:
        item.update(actions=[InvestmentModel.status.set("posted")])

    def remove_investment(self, item: InvestmentModel) -> None:
        item.delete()

    def investments(self, site_id: str) -> Iterator[InvestmentModel]:
        return iter(InvestmentModel.query(site_id, consistent_read=True))

    def has_investments(self, site_id: str) -> bool:
        return any(True for _ in InvestmentModel.query(site_id, limit=1, consistent_read=True))

    def investments_of(self, investor_id: str) -> Iterator[InvestmentModel]:
        return iter(InvestmentModel.by_investor.query(investor_id))
