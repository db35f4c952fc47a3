"""Sites use cases: plants and their devices, their energy per interval, investments and shares.

Ownership: a site is its owner's (the host's); admins and operators see every site, admins may change
any. Another user's site answers 404, never 403. A device joins a site through the devices service (the
caller must be able to see it) and only when it belongs to the site's owner.

Other contexts are reached through their services only: devices (a device of the caller), telemetry
(the rollups' counter energy), wallets (the investment's ledger transaction, the investors' returns).
The energy arithmetic is :mod:`gridshare.sites.energy`, the shares :mod:`gridshare.sites.shares`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.deadline import request_deadline
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.kernel.roles import Caller
from gridshare.sites import energy as E
from gridshare.sites.models import InvestmentModel, SiteDeviceModel, SiteModel
from gridshare.sites.shares import shares
from gridshare.sites.store import SiteStore

if TYPE_CHECKING:
    from gridshare.devices.service import DeviceService
    from gridshare.http.idempotency import RequestIds
    from gridshare.telemetry.service import TelemetryService

__all__ = ["SitesService", "site_view", "sites_service"]

SEES_ALL = ("admin", "operator")


# Other contexts' services are imported when a request first needs them: listing or reading sites loads
# neither devices nor telemetry (nor what they import) on a cold start.
def _devices() -> type[DeviceService]:
    from gridshare.devices.service import DeviceService

    return DeviceService


def telemetry_service() -> TelemetryService:
    """The telemetry context's service (gridshare.telemetry.service.telemetry_service)."""
    from gridshare.telemetry.service import telemetry_service as factory

    return factory()


# A site's energy reads every attached device's rollups per request: the cap bounds that work.
MAX_DEVICES_PER_SITE = 100
# A device's role on a site when PATCH /v1/devices/{id} names none (docs/devices.md).
DEFAULT_ROLES = {"inverter": "production", "battery": "storage", "meter": "grid_meter", "gas_sensor": "consumption"}


def site_view(site: SiteModel) -> dict[str, Any]:
    return {
        "id": site.id,
        "ownerId": site.owner_id,
        "name": site.name,
        "kind": site.kind,
        "capacityKw": _number(site.capacity_kw),
        "panels": site.panels,
        "location": site.location,
        "timezone": site.timezone,
        "tariff": site.tariff,
        "createdAt": to_iso(int(site.created_at)),
        "updatedAt": to_iso(int(site.updated_at)),
    }


def _number(value: Any) -> float | int:
    number = float(value)
    return int(number) if number.is_integer() else number


def _investment_view(item: InvestmentModel) -> dict[str, Any]:
    return {
        "id": item.id,
        "siteId": item.site_id,
        "investorId": item.investor_id,
        "amount": int(item.amount),
        "currency": item.currency,
        "transactionId": item.transaction_id,
        "createdAt": to_iso(int(item.created_at)),
    }


def _wallets() -> ModuleType:
    """The wallets context's service, imported on use: only investments need it (ledger and all), and the
    functions that read sites for other reasons (the alert evaluator, the market) should not pay for it."""
    from gridshare.wallets import service

    return service


@dataclass
class SitesService:
    store: SiteStore = field(default_factory=SiteStore)
    telemetry: Callable[[], TelemetryService] = telemetry_service
    clock: Callable[[], int] = now_ms

    # ------------------------------------------------------------ sites
    def _visible(self, caller: Caller, site_id: str) -> SiteModel:
        site = self.store.get(site_id)
        if site.owner_id != caller.user_id and caller.role not in SEES_ALL:
            raise errors.NotFound("No such site.")
        return site

    def _changeable(self, caller: Caller, site_id: str) -> SiteModel:
        """The site if the caller may change it (its owner, or an admin); 404 otherwise."""
        site = self.store.get(site_id)
        if site.owner_id != caller.user_id and not caller.is_admin:
            raise errors.NotFound("No such site.")
        return site

    def create(self, caller: Caller, fields: dict[str, Any]) -> dict[str, Any]:
        at = self.clock()
        site = SiteModel(id=new_id(), owner_id=caller.user_id, created_at=at, updated_at=at, **fields)
        self.store.put_new(site)
        return site_view(site)

    def get(self, caller: Caller, site_id: str) -> dict[str, Any]:
        return site_view(self._visible(caller, site_id))

    def list(
        self, caller: Caller, kind: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor)
        owner = None if caller.role in SEES_ALL else caller.user_id
        if owner is not None and start is not None and start.get("owner_id", {}).get("S") != owner:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        sites, last = self.store.owned_page(owner, kind, limit, start)
        return [site_view(s) for s in sites], encode_cursor(last)

    def update(self, caller: Caller, site_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        site = self._changeable(caller, site_id)
        currency = (changes.get("tariff") or {}).get("currency")
        if currency not in (None, site.tariff["currency"]) and self.store.has_investments(site.id):
            raise errors.Conflict(
                "Investors hold shares in this site in its currency; its tariff's currency cannot change.",
                errors=[errors.FieldError("tariff.currency", "the site has investments")],
            )
        if changes:
            site = self.store.update(site, {**changes, "updated_at": self.clock()})
        return site_view(site)

    def delete(self, caller: Caller, site_id: str) -> None:
        site = self._changeable(caller, site_id)
        if self.store.has_devices(site.id):
            raise errors.Conflict("The site has devices attached; detach them first.")
        if self.store.has_investments(site.id):
            raise errors.Conflict("The site has investments; a site investors hold shares in cannot be deleted.")
        self.store.delete(site)

    # ------------------------------------------------------------ devices
    def attach(self, caller: Caller, site_id: str, device_id: str, role: str) -> dict[str, Any]:
        site = self._changeable(caller, site_id)
        device = _devices().get_owned(caller, device_id)
        if device.owner_id != site.owner_id:
            raise errors.Conflict(
                "The device belongs to another user than the site; a site's devices are its owner's.",
                errors=[errors.FieldError("deviceId", "not the site owner's device")],
            )
        current = self.store.attachment(device.id)
        self._room_for(site.id, current, "deviceId")
        item = self.store.attach(site.id, device.id, role, self.clock())
        return _site_device_view(item)

    def devices(
        self, caller: Caller, site_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The devices on a site with their roles (whoever may see the site)."""
        site = self._visible(caller, site_id)
        start = decode_cursor(cursor)
        if start is not None and start.get("site_id", {}).get("S") != site.id:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        items, last = self.store.devices_page(site.id, limit, start)
        return [_site_device_view(item) for item in items], encode_cursor(last)

    def detach(self, caller: Caller, site_id: str, device_id: str) -> None:
        site = self._changeable(caller, site_id)
        device = _devices().get_owned(caller, device_id)
        self.store.detach(site.id, device.id)

    def place(self, caller: Caller, device_id: str, site_id: str, role: str | None) -> dict[str, Any]:
        """Put a device on a site for PATCH /v1/devices/{id} (devices context): attach it, or move it from the
        site it is on (that site is its owner's too: a site's devices are its owner's). Same checks as
        :meth:`attach`; ``role`` None keeps the role on the same site, else the device type's default."""
        site = self._changeable(caller, site_id)
        device = _devices().get_owned(caller, device_id)
        if device.owner_id != site.owner_id:
            raise errors.Conflict(
                "The device belongs to another user than the site; a site's devices are its owner's.",
                errors=[errors.FieldError("siteId", "not the device owner's site")],
            )
        current = self.store.attachment(device.id)
        self._room_for(site.id, current, "siteId")
        if role is None:
            same = current is not None and current.site_id == site.id
            role = current.role if same and current is not None else DEFAULT_ROLES[device.type]
        at = self.clock()
        if current is None or current.site_id == site.id:
            item = self.store.attach(site.id, device.id, role, at)
        else:
            item = self.store.move(current.site_id, site.id, device.id, role, at)
        return {"siteId": item.site_id, "siteRole": item.role}

    def _room_for(self, site_id: str, current: SiteDeviceModel | None, field_name: str) -> None:
        """A device joining the site (not already on it) needs room: MAX_DEVICES_PER_SITE."""
        if current is not None and current.site_id == site_id:
            return
        if len(self.store.devices(site_id)) >= MAX_DEVICES_PER_SITE:
            raise errors.Conflict(
                f"A site has at most {MAX_DEVICES_PER_SITE} devices; detach one first.",
                errors=[errors.FieldError(field_name, f"the site already has {MAX_DEVICES_PER_SITE} devices")],
            )

    def unplace(self, caller: Caller, device_id: str) -> None:
        """Take a device off whatever site it is on (PATCH /v1/devices/{id} with siteId null)."""
        device = _devices().get_owned(caller, device_id)
        current = self.store.attachment(device.id)
        if current is not None:
            self.store.detach(current.site_id, device.id)

    def placement(self, device_id: str) -> dict[str, Any]:
        """The site a device is on and its role there (nulls when on none), without an ownership check: the
        devices context has checked the caller may see the device."""
        current = self.store.attachment(device_id)
        if current is None:
            return {"siteId": None, "siteRole": None}
        return {"siteId": current.site_id, "siteRole": current.role}

    # ------------------------------------------------------------ energy
    def energy(self, caller: Caller, site_id: str, start: int, end: int, resolution: E.Resolution) -> dict[str, Any]:
        site = self._visible(caller, site_id)
        starts = E.interval_starts(start, end, resolution, site.timezone)
        source = E.source_resolution(resolution, starts)
        deadline = request_deadline()
        telemetry = self.telemetry()
        first = starts[0] if starts else start
        meters = [
            E.MeterSeries(d.role, telemetry.energy_buckets(d.device_id, source, first, end, deadline=deadline))  # type: ignore[arg-type]
            for d in self.store.devices(site.id)
        ]
        rows = E.site_energy(meters, starts, end)
        return {
            "siteId": site.id,
            "resolution": resolution,
            "timezone": site.timezone,
            "from": to_iso(start),
            "to": to_iso(end),
            "devices": len(meters),
            "intervals": [{"start": to_iso(a), "end": to_iso(b), **_figures(f)} for a, b, f in rows],
            "totals": _figures(E.totals(f for _, _, f in rows)),
        }

    # ------------------------------------------------------------ for other contexts (no ownership check)
    def locate(self, site_id: str) -> dict[str, Any]:
        """A site's owner, location and capacity, for a context that checks its own access (communities: a
        member's site must be the member's, inside the community's boundary; market: an ASK's site must be
        the seller's, and caps its energy). 404 when there is no such site."""
        site = self.store.get(site_id)
        return {
            "id": site.id,
            "ownerId": site.owner_id,
            "location": site.location,
            "timezone": site.timezone,
            "capacityKw": _number(site.capacity_kw),
        }

    def energy_in(self, site_id: str, starts: list[int], end: int, source: str) -> list[E.Figures]:
        """A site's figures in the given intervals (``starts``, the last ending at ``end``) from rollups of
        resolution ``source``, without an ownership check: communities have checked the caller may see the
        community the site is in. An unknown site has no energy (zeros)."""
        telemetry = self.telemetry()
        deadline = request_deadline()
        first = starts[0] if starts else end
        meters = [
            E.MeterSeries(d.role, telemetry.energy_buckets(d.device_id, source, first, end, deadline=deadline))  # type: ignore[arg-type]
            for d in self.store.devices(site_id)
        ]
        return [f for _, _, f in E.site_energy(meters, starts, end)]

    def for_settlement(self, site_ids: Iterable[str] | None = None) -> builtins.list[dict[str, Any]]:
        """Every site (or those of ``site_ids`` that exist: a batched read by id, what one settlement shard
        reads) as the settlement run reads it, without an ownership check: ``id``, ``ownerId``,
        ``tariff`` (currency, retail and feed-in per kWh), ``devices`` ((device id, role) attached) and
        ``investors`` (investor id -> amount invested and posted: the weights of the 35 % part)."""
        out = []
        found = self.store.all() if site_ids is None else self.store.many(site_ids)
        for site in sorted(found, key=lambda s: s.id):
            invested: dict[str, int] = {}
            for item in self._posted(self.store.investments(site.id)):
                invested[item.investor_id] = invested.get(item.investor_id, 0) + int(item.amount)
            out.append(
                {
                    "id": site.id,
                    "ownerId": site.owner_id,
                    "tariff": dict(site.tariff),
                    "devices": [(d.device_id, d.role) for d in self.store.devices(site.id)],
                    "investors": invested,
                }
            )
        return out

    # ------------------------------------------------------------ investments
    def invest(
        self, caller: Caller, site_id: str, amount: int, currency: str | None, ids: RequestIds
    ) -> dict[str, Any]:
        site = self.store.get(site_id)  # any site: investors buy into other people's plants
        site_currency = str(site.tariff["currency"])
        if currency is not None and currency.upper() != site_currency:
            raise errors.InvalidInput(
                f"This site takes investments in {site_currency}.",
                errors=[errors.FieldError("currency", f"must be the site's currency, {site_currency}")],
            )
        investment_id = ids.new("investment")
        at = self.clock()
        item = InvestmentModel(
            site_id=site.id,
            id=investment_id,
            investor_id=caller.user_id,
            amount=amount,
            currency=site_currency,
            transaction_id=_wallets().investment_tx_id(investment_id),
            status="pending",
            created_at=at,
        )
        self.store.add_investment(item)  # first: money never moves without a record of whose it is
        try:
            _wallets().record_investment(
                investment_id,
                investor_id=caller.user_id,
                site_id=site.id,
                amount=amount,
                currency=site_currency,
                created_at=at,
            )
        except errors.GridshareError:
            self.store.remove_investment(item)  # refused (no funds, invalid): nothing moved
            raise
        self.store.mark_posted(item)
        return _investment_view(item)

    def _posted(self, items: Iterable[InvestmentModel]) -> Iterator[InvestmentModel]:
        """The investments whose money moved: posted ones, and pending ones whose transaction is in the
        ledger (marking them was interrupted: settled here). Others are in flight, or failed half-way."""
        for item in items:
            if item.status == "posted":
                yield item
            elif _wallets().investment_posted(item.id):
                self.store.mark_posted(item)
                yield item

    def investors(self, caller: Caller, site_id: str) -> dict[str, Any]:
        site = self._changeable(caller, site_id)  # the host and admins
        invested: dict[str, int] = {}
        for item in self._posted(self.store.investments(site.id)):
            invested[item.investor_id] = invested.get(item.investor_id, 0) + int(item.amount)
        table = shares(invested)
        return {
            "siteId": site.id,
            "currency": site.tariff["currency"],
            "totalInvested": sum(invested.values()),
            "investors": [
                {"investorId": investor, "invested": share.invested, "share": share.view(), "percent": share.percent}
                for investor, share in sorted(table.items(), key=lambda kv: (-kv[1].invested, kv[0]))
            ],
        }

    def portfolio(self, caller: Caller) -> dict[str, Any]:
        mine: dict[str, int] = {}
        for item in self._posted(self.store.investments_of(caller.user_id)):
            mine[item.site_id] = mine.get(item.site_id, 0) + int(item.amount)
        sites = {site_id: self.store.get(site_id) for site_id in mine}
        returns = _wallets().site_returns(caller.user_id, {str(s.tariff["currency"]) for s in sites.values()})
        rows = []
        for site_id in sorted(mine):
            site = sites[site_id]
            currency = str(site.tariff["currency"])
            everyone: dict[str, int] = {}
            for item in self._posted(self.store.investments(site_id)):
                everyone[item.investor_id] = everyone.get(item.investor_id, 0) + int(item.amount)
            share = shares(everyone)[caller.user_id]
            rows.append(
                {
                    "siteId": site_id,
                    "name": site.name,
                    "kind": site.kind,
                    "currency": currency,
                    "invested": mine[site_id],
                    "share": share.view(),
                    "percent": share.percent,
                    "returns": returns.get(site_id, {}).get(currency, 0),
                }
            )
        return {"sites": rows}


def _site_device_view(item: SiteDeviceModel) -> dict[str, Any]:
    return {
        "siteId": item.site_id,
        "deviceId": item.device_id,
        "role": item.role,
        "attachedAt": to_iso(int(item.attached_at)),
    }


def _figures(f: E.Figures) -> dict[str, Any]:
    return {
        "production": f.production,
        "consumption": f.consumption,
        "export": f.export,
        "import": f.import_,
        "selfConsumption": f.self_consumption,
        "selfSufficiency": f.self_sufficiency,
    }


sites_service = ServiceFactory(SitesService)
