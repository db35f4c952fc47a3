"""What a settlement run reads, through the other contexts' services, mapped to :class:`rules.IntervalInput`.

- **Trades** of each interval from the market (``MarketService.trades_for_settlement``): the trade, its
  parties, and the sites of its two orders. A BID that named no site (or a site that is gone, or not the
  party's) is settled against the party's *virtual site* ``u.<userId>``: no meters, so nothing is burned
  for it, and for a seller the whole trade is a shortfall.
- **Sites** (``SitesService.for_settlement``: every site for Prepare, a shard's sites by id for
  SettleShard): host, tariff (feed-in), attached devices and their roles, investors' posted investments (the
  weights of the 35 % part). A site whose tariff is in another currency than the settlement's is left out
  (the market trades in the default currency only).
- **Metered energy** per site and interval: the telemetry 15-minute rollups of each attached device
  (``TelemetryService.energy_buckets``, the counter deltas the readings history shows), decoded and summed
  by site and device role by :mod:`gridshare.settlement.metering`.
- **Communities** (``CommunitiesService.for_settlement``: every one for Prepare, those of a shard's sites'
  hosts' memberships for SettleShard): rule, price, coefficients and priorities of the
  member sites; a site in several communities shares in the first by id.
- **Tariffs**: the grid's retail tariff and imbalance charge per kWh from settings
  (``GS_SETTLEMENT_RETAIL_MINOR_PER_KWH``, ``GS_SETTLEMENT_IMBALANCE_MINOR_PER_KWH``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gridshare.kernel.settings import get_settings
from gridshare.settlement import rules as R

if TYPE_CHECKING:
    from gridshare.communities.service import CommunitiesService
    from gridshare.market.service import MarketService
    from gridshare.sites.service import SitesService
    from gridshare.telemetry.service import TelemetryService

__all__ = ["INTERVAL_MS", "InputReader", "RunInputs", "virtual_site"]

INTERVAL_MS = 900_000
NUMPY_FROM = 50_000
"""A shard's meter-intervals from which its site energy is summed with numpy: below it, the scalar rules
cost less than importing numpy (see `InputReader.metered`)."""


def virtual_site(user_id: str) -> str:
    """The site a party's trade is settled against when its order names no site of theirs."""
    return f"u.{user_id}"


@dataclass(frozen=True)
class RunInputs:
    """What one run reads once for all its intervals (before the meters)."""

    currency: str
    tariffs: R.Tariffs
    sites: Mapping[str, Mapping[str, Any]]
    """site id -> the sites service's view (virtual sites included: no devices)."""
    communities: Sequence[Mapping[str, Any]]
    trades: Mapping[int, Sequence[Mapping[str, Any]]]
    """interval -> its trades, ``buyerSiteId`` / ``sellerSiteId`` resolved to a real or virtual site."""

    def trade_ids(self, site_ids: Iterable[str]) -> list[str]:
        """The ids of the trades (of every interval) between these sites: what a shard's manifest item
        carries, so SettleShard reads its trades by id."""
        mine = set(site_ids)
        return sorted(
            t["id"] for ts in self.trades.values() for t in ts if t["buyerSiteId"] in mine and t["sellerSiteId"] in mine
        )

    def trades_by_shard(self, shards: Sequence[Sequence[str]]) -> list[list[str]]:
        """Per shard (its sites), :meth:`trade_ids`, in one pass over the trades."""
        shard_of = {site: n for n, sites in enumerate(shards) for site in sites}
        out: list[list[str]] = [[] for _ in shards]
        for ts in self.trades.values():
            for t in ts:
                n = shard_of.get(t["buyerSiteId"])
                if n is not None and shard_of.get(t["sellerSiteId"]) == n:
                    out[n].append(t["id"])
        return [sorted(ids) for ids in out]

    def links(self) -> list[tuple[str, str]]:
        return [(t["buyerSiteId"], t["sellerSiteId"]) for ts in self.trades.values() for t in ts]

    def groups(self) -> dict[str, list[str]]:
        return {c["id"]: sorted(s for s in c["sites"] if s in self.sites) for c in self.communities}

    def parties(self, site_ids: Iterable[str]) -> set[str]:
        """Users with a posting possible in these sites: hosts and investors."""
        out: set[str] = set()
        for site_id in site_ids:
            view = self.sites[site_id]
            out.add(str(view["ownerId"]))
            out.update(view.get("investors", {}))
        return out


# The other contexts' services, imported on first use: each task of a run reads only some of them (Prepare:
# sites, communities, trades; SettleShard: also telemetry; Finalize and MarkFailed: none), and a task's cold
# start pays for what it imports (decision 0029).
def _market() -> MarketService:
    from gridshare.market.service import market_service

    return market_service()


def _sites() -> SitesService:
    from gridshare.sites.service import sites_service

    return sites_service()


def _communities() -> CommunitiesService:
    from gridshare.communities.service import communities_service

    return communities_service()


def _telemetry() -> TelemetryService:
    from gridshare.telemetry.service import telemetry_service

    return telemetry_service()


@dataclass
class InputReader:
    market: Callable[[], MarketService] = _market
    sites: Callable[[], SitesService] = _sites
    communities: Callable[[], CommunitiesService] = _communities
    telemetry: Callable[[], TelemetryService] = _telemetry
    numpy_from: int = NUMPY_FROM
    """Meter-intervals from which `metered` sums with numpy (module constant NUMPY_FROM)."""

    def _tariffs(self) -> R.Tariffs:
        settings = get_settings()
        return R.Tariffs(
            settings.default_currency,
            settings.settlement_retail_minor_per_kwh,
            settings.settlement_imbalance_minor_per_kwh,
        )

    def read(self, intervals: Sequence[int]) -> RunInputs:
        """The whole run's inputs (Prepare, once per run): every site, every community, every trade."""
        tariffs = self._tariffs()
        currency = tariffs.currency
        sites: dict[str, Mapping[str, Any]] = {
            s["id"]: s for s in self.sites().for_settlement() if s["tariff"].get("currency") == currency
        }
        communities = [c for c in self.communities().for_settlement() if c.get("currency") in (None, currency)]
        trades: dict[int, Sequence[Mapping[str, Any]]] = {}
        market = self.market()
        for interval in intervals:
            trades[interval] = [
                self._resolve(sites, t) for t in market.trades_for_settlement(interval) if t["currency"] == currency
            ]
        return RunInputs(currency, tariffs, sites, communities, trades)

    def read_shard(
        self, intervals: Sequence[int], site_ids: Iterable[str], trade_ids: Iterable[str] | None = None
    ) -> RunInputs:
        """One shard's inputs (SettleShard): its sites by id, the communities its sites are members of, the
        intervals' trades whose two sites (as :meth:`read` resolves them) are the shard's. ``trade_ids``
        (the manifest's, from Prepare): those trades are read by id; without them every trade of each
        interval is read (one query an interval) and filtered. A trade is resolved only when one of the
        sites it can resolve to is the shard's, reading the other sites it names by id."""
        tariffs = self._tariffs()
        currency = tariffs.currency
        wanted = set(site_ids)
        sites: dict[str, Mapping[str, Any]] = {
            s["id"]: s for s in self.sites().for_settlement(sorted(wanted)) if s["tariff"].get("currency") == currency
        }
        market = self.market()
        ids = None if trade_ids is None else sorted(set(trade_ids))
        raw = {i: [t for t in market.trades_for_settlement(i, ids) if t["currency"] == currency] for i in intervals}
        near = [t for ts in raw.values() for t in ts if _candidates(t) & wanted]
        named = {s for t in near for s in (t["buyerSiteId"], t["sellerSiteId"]) if s is not None and s not in sites}
        known: dict[str, Mapping[str, Any]] = dict(sites)
        if named:
            known.update(
                (s["id"], s)
                for s in self.sites().for_settlement(sorted(named))
                if s["tariff"].get("currency") == currency
            )
        trades: dict[int, Sequence[Mapping[str, Any]]] = {}
        for interval, ts in raw.items():
            resolved = (self._resolve(known, t) for t in ts if _candidates(t) & wanted)
            trades[interval] = [t for t in resolved if t["buyerSiteId"] in wanted and t["sellerSiteId"] in wanted]
        for t in (t for ts in trades.values() for t in ts):
            for side in ("buyerSiteId", "sellerSiteId"):
                sites.setdefault(t[side], known[t[side]])
        hosts = {site_id: str(view["ownerId"]) for site_id, view in sites.items() if not view.get("virtual")}
        communities = [c for c in self.communities().for_settlement(hosts) if c.get("currency") in (None, currency)]
        return RunInputs(currency, tariffs, sites, communities, trades)

    def _resolve(self, sites: dict[str, Mapping[str, Any]], t: Mapping[str, Any]) -> dict[str, Any]:
        """The trade with ``buyerSiteId`` / ``sellerSiteId`` resolved to a real or virtual site (added to
        ``sites`` when virtual)."""
        buyer_site = self._site_of(sites, t["buyerSiteId"], t["buyerId"])
        seller_site = self._site_of(sites, t["sellerSiteId"], t["sellerId"])
        if buyer_site == seller_site:  # a party trading with itself: both orders on one site
            buyer_site = virtual_site(t["buyerId"]) + ".buy"
            sites.setdefault(buyer_site, _virtual(buyer_site, t["buyerId"]))
        return {**t, "buyerSiteId": buyer_site, "sellerSiteId": seller_site}

    @staticmethod
    def _site_of(sites: dict[str, Mapping[str, Any]], site_id: str | None, party: str) -> str:
        if site_id is not None and site_id in sites and sites[site_id]["ownerId"] == party:
            return site_id
        virtual = virtual_site(party)
        sites.setdefault(virtual, _virtual(virtual, party))
        return virtual

    def metered(
        self, inputs: RunInputs, site_ids: Sequence[str], start: int, intervals: int
    ) -> dict[int, dict[str, tuple[int, int]]]:
        """Interval start -> site id -> (export Wh, import Wh) of ``site_ids`` over ``intervals`` intervals
        from ``start`` (every site present; no meters: zeros).

        Up to ``numpy_from`` meter-intervals the sums are the scalar rules' (`sites.energy.figures` per site
        and interval); from there the vectorised core's (:mod:`gridshare.settlement.metering`), which gives
        the same figures (tests/unit/settlement). Importing numpy costs a cold task ~240 M instructions
        (~70 ms); the scalar rules take ~1 µs per meter-interval, so a shard of the default 500 sites and a
        run of a few intervals is cheaper without it."""
        meters = [(device, site, role) for site in site_ids for device, role in inputs.sites[site]["devices"]]
        out: dict[int, dict[str, tuple[int, int]]] = {
            start + k * INTERVAL_MS: dict.fromkeys(site_ids, (0, 0)) for k in range(intervals)
        }
        if not meters:
            return out
        end = start + intervals * INTERVAL_MS
        telemetry = self.telemetry()
        energy = {device: telemetry.energy_buckets(device, "15m", start, end) for device, _, _ in meters}
        if len(meters) * intervals < self.numpy_from:
            return _scalar_metered(out, meters, energy, start, intervals)
        from gridshare.settlement import metering  # numpy: large shards and long runs only

        items = [
            {
                "pk": f"{device}#15m",
                "bucket": bucket,
                metering.EXPORT_KEY: counters.get("energy_export_wh", 0),
                metering.IMPORT_KEY: counters.get("energy_import_wh", 0),
            }
            for device, _, _ in meters
            for bucket, counters in energy[device].items()
        ]
        table = metering.MeterTable.build(meters)
        cube = metering.site_energy(metering.decode_rollups(items, table), table, start=start, intervals=intervals)
        for interval, by_site in cube.readings(table.site_ids).items():
            out[interval].update(by_site)
        return out

    @staticmethod
    def interval_input(
        inputs: RunInputs, interval: int, site_ids: Sequence[str], metered: Mapping[str, tuple[int, int]]
    ) -> R.IntervalInput:
        """One interval of one shard: its sites (metered), the trades between them, their communities."""
        mine = set(site_ids)
        membership: dict[str, str] = {}
        used: list[R.Community] = []
        for c in inputs.communities:
            members = sorted(s for s in c["sites"] if s in mine and s not in membership)
            if not members:
                continue
            for s in members:
                membership[s] = c["id"]
            used.append(
                R.Community(
                    c["id"],
                    int(c["priceMinorPerKwh"]),
                    c["rule"],
                    coefficients={s: Fraction(c["sites"][s]["coefficient"]) for s in members},
                    priority=tuple(
                        sorted(
                            members,
                            key=lambda s: (c["sites"][s]["priority"] is None, c["sites"][s]["priority"] or 0, s),
                        )
                    ),
                )
            )
        sites = []
        for site_id in sorted(mine):
            view = inputs.sites[site_id]
            exported, imported = metered.get(site_id, (0, 0))
            sites.append(
                R.Site(
                    site_id,
                    str(view["ownerId"]),
                    int(exported),
                    int(imported),
                    feed_in_minor_per_kwh=int(view["tariff"].get("feedInMinorPerKwh", 0)),
                    investor_shares=dict(view.get("investors", {})),
                    no_investors="host",
                    community_id=membership.get(site_id),
                )
            )
        trades = tuple(
            R.Trade.from_clearing(
                t,
                buyer_id=t["buyerId"],
                buyer_site_id=t["buyerSiteId"],
                seller_id=t["sellerId"],
                seller_site_id=t["sellerSiteId"],
            )
            for t in inputs.trades.get(interval, ())
            if t["buyerSiteId"] in mine and t["sellerSiteId"] in mine
        )
        return R.IntervalInput(interval, inputs.tariffs, tuple(sites), trades, tuple(used))


def _scalar_metered(
    out: dict[int, dict[str, tuple[int, int]]],
    meters: Sequence[tuple[str, str, str]],
    energy: Mapping[str, Mapping[int, Mapping[str, int]]],
    start: int,
    intervals: int,
) -> dict[int, dict[str, tuple[int, int]]]:
    """`InputReader.metered` by the scalar rules: each site's meters by role, per interval."""
    from gridshare.sites.energy import ROLES, figures

    attached: dict[str, list[tuple[str, str]]] = {}
    for device, site, role in meters:
        if role not in ROLES:
            raise ValueError(f"unknown device role {role!r}")
        attached.setdefault(site, []).append((device, role))
    if len({device for device, _, _ in meters}) != len(meters):
        raise ValueError("a device is attached twice")
    none: dict[str, int] = {}
    for site, devices in attached.items():
        grid = any(role == "grid_meter" for _, role in devices)
        load = any(role == "consumption" for _, role in devices)
        for k in range(intervals):
            bucket = start + k * INTERVAL_MS
            readings = [(role, energy[device].get(bucket, none)) for device, role in devices]
            f = figures(readings, has_grid_meter=grid, has_load_meter=load)  # type: ignore[arg-type]
            out[bucket][site] = (f.export, f.import_)
    return out


def _candidates(t: Mapping[str, Any]) -> set[str]:
    """Every site a trade's buyer or seller side can resolve to (the named site or a virtual one)."""
    buyer = virtual_site(t["buyerId"])
    out = {buyer, buyer + ".buy", virtual_site(t["sellerId"])}
    out.update(s for s in (t["buyerSiteId"], t["sellerSiteId"]) if s is not None)
    return out


def _virtual(site_id: str, party: str) -> dict[str, Any]:
    return {"id": site_id, "ownerId": party, "tariff": {}, "devices": [], "investors": {}, "virtual": True}
