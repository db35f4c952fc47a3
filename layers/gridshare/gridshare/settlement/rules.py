"""The settlement rules of one delivery interval: trades against metered energy, as ledger postings.

Pure Python (stdlib and the ledger's revenue split, the communities' allocation), no AWS. The inputs
(:class:`IntervalInput`) are what a settlement shard has read: the interval's trades with their parties
and sites, each site's metered export and import (Wh, counter deltas summed over the site's devices by
role, :mod:`gridshare.settlement.metering`), the tariffs, each site's investors and its community. The
output (:func:`settle`) is a list of :class:`~gridshare.settlement.postings.Posting`, each one balanced
ledger transaction with a deterministic id. All energy is integer Wh, all money integer minor units.

**Metered energy.** Per site: net export ``x = max(0, export - import)`` and net import
``m = max(0, import - export)`` for the interval (a site that both exported and imported in the same 15
minutes delivers only its net).

**Delivery.** A seller site delivers its trades up to its net export: when ``x >= sold`` (the sum of its
trades' Wh) every trade is delivered whole; otherwise ``x`` is split among its trades pro rata to their
Wh (largest remainder, ties to the smaller trade id), so each trade gets ``d <= E``. The shortfall of a
trade is ``E - d``.

**Money per trade** (``p`` price and ``f`` grid fee per kWh, the market's rounding): the buyer pays
``floor(d * (p + f) / 1000)`` from their market escrow: ``floor(d * p / 1000)`` for the seller's site
(*trade*, split below) and the rest to the grid counterparty (*grid_fee*). The escrow held
``floor(E * (p + f) / 1000)`` for the trade after clearing released the unfilled part; what delivery did
not use goes back to the buyer's wallet (*release*). Nobody pays for energy that was not delivered.

**Shortfall.** The grid supplies the missing ``E - d`` Wh to the buyer at the retail tariff: the buyer's
wallet pays ``floor((E - d) * retail / 1000)`` to the grid (*shortfall*); the seller pays the imbalance
charge ``floor((E - d) * imbalance / 1000)`` to the grid (*imbalance*).

**Community sharing.** For each community, each member site's surplus not delivered to trades
(``u = x - delivered``) is shared with members' deficit not covered by their trades
(``v = max(0, m - bought)``, ``bought`` = the Wh of the site's BID trades, delivered or supplied by the
grid) by the community's rule (:func:`gridshare.communities.allocation.allocate`: pro rata to deficit,
static coefficients, priority). The energy each provider gives and each recipient receives is paired in
site id order (providers and recipients each ascending, the first provider's Wh to the first recipient
until one is exhausted, and so on), and each pair is a sale at the community price: the recipient's host
pays ``floor(wh * price / 1000)`` for the provider site (*community*, split below).

**Feed-in.** What is left of a site's surplus (``u - shared``) is bought by the grid at the site's
feed-in tariff: ``floor(wh * fit / 1000)`` from the grid counterparty (*feed_in*, split below).

**The split.** Every sale of a site's energy (trade, community, feed-in) is split host 45 % / the site's
investors 35 % pro rata to their shares / platform 20 %, exact to the minor unit
(:func:`gridshare.ledger.revenue_split.split_sale`); a site without investors follows its
``no_investors`` policy (``"host"``: the host gets the investors' part; ``"pool"``: the site's investor
pool holds it).

**Energy credits** (ledger asset KWH, in Wh). The producer's host is minted the site's net export
(*mint*: grid counterparty -> host); each trade moves its delivered Wh from the seller's host to the
buyer (in the *trade* posting, with its money); each community pair moves its Wh provider -> recipient
(in the *community* posting); the Wh fed in go back to the grid (in the *feed_in* posting); a consumer
site's host burns the credits received this interval up to the site's net import (*burn*). A producer's
credits therefore net to zero each interval, and every asset's postings sum to zero.

**Parties.** A trade's buyer and seller are the hosts of its buyer and seller sites (a site is a party's
installation); every id must match :data:`~gridshare.settlement.postings.ID_PART`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from gridshare.communities.allocation import MemberEnergy, Rule, allocate
from gridshare.ledger.revenue_split import NoInvestors, Weight, largest_remainder, split_sale
from gridshare.settlement.postings import (
    ID_PART,
    MetadataValue,
    Posting,
    credits_account,
    escrow_account,
    grid_account,
    platform_account,
    pool_account,
    posting,
    wallet_account,
)

__all__ = [
    "Community",
    "IntervalInput",
    "IntervalSettlement",
    "Site",
    "Tariffs",
    "Trade",
    "deliveries",
    "settle",
    "trade_money",
]

KWH = "KWH"
MAX_WH = 2**40
MAX_PRICE = 2**31


def _nat(value: object, what: str, *, limit: int = MAX_WH, positive: bool = False) -> int:
    if type(value) is not int or value < (1 if positive else 0) or value > limit:
        raise ValueError(f"{what} must be an int in [{1 if positive else 0}, {limit}], not {value!r}")
    return value


def _ident(value: object, what: str) -> str:
    if not isinstance(value, str) or not ID_PART.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not an id")
    return value


@dataclass(frozen=True)
class Trade:
    """A cleared trade with its parties and sites (the market's trade plus who is behind its orders)."""

    id: str
    buy_order_id: str
    sell_order_id: str
    buyer_id: str
    buyer_site_id: str
    seller_id: str
    seller_site_id: str
    energy_wh: int
    price_minor_per_kwh: int
    grid_fee_minor_per_kwh: int

    def __post_init__(self) -> None:
        for name in ("id", "buy_order_id", "sell_order_id", "buyer_id", "buyer_site_id", "seller_id", "seller_site_id"):
            _ident(getattr(self, name), name)
        _nat(self.energy_wh, "energy_wh", positive=True)
        _nat(self.price_minor_per_kwh, "price_minor_per_kwh", limit=MAX_PRICE)
        _nat(self.grid_fee_minor_per_kwh, "grid_fee_minor_per_kwh", limit=MAX_PRICE)
        if self.buyer_site_id == self.seller_site_id:
            raise ValueError(f"trade {self.id}: a site cannot buy its own energy")

    @classmethod
    def from_clearing(
        cls, item: Mapping[str, Any], *, buyer_id: str, buyer_site_id: str, seller_id: str, seller_site_id: str
    ) -> Trade:
        """From the market's trade (``id, interval, buyOrderId, sellOrderId, energyWh, priceMinorPerKwh,
        gridFeeMinorPerKwh``) and the parties behind its two orders."""
        return cls(
            str(item["id"]),
            str(item["buyOrderId"]),
            str(item["sellOrderId"]),
            buyer_id,
            buyer_site_id,
            seller_id,
            seller_site_id,
            int(item["energyWh"]),
            int(item["priceMinorPerKwh"]),
            int(item["gridFeeMinorPerKwh"]),
        )


@dataclass(frozen=True)
class Site:
    """A site in the interval: its host, metered Wh, feed-in tariff, investors and community."""

    id: str
    host_id: str
    export_wh: int
    import_wh: int
    feed_in_minor_per_kwh: int = 0
    investor_shares: Mapping[str, Weight] = field(default_factory=dict)
    no_investors: NoInvestors = "host"
    community_id: str | None = None

    def __post_init__(self) -> None:
        _ident(self.id, "site id")
        _ident(self.host_id, "host id")
        for investor in self.investor_shares:
            _ident(investor, "investor id")
        _nat(self.export_wh, "export_wh")
        _nat(self.import_wh, "import_wh")
        _nat(self.feed_in_minor_per_kwh, "feed_in_minor_per_kwh", limit=MAX_PRICE)
        if self.community_id is not None:
            _ident(self.community_id, "community id")

    @property
    def net_export(self) -> int:
        return max(0, self.export_wh - self.import_wh)

    @property
    def net_import(self) -> int:
        return max(0, self.import_wh - self.export_wh)


@dataclass(frozen=True)
class Community:
    """A community's sharing rule and price; ``coefficients`` and ``priority`` name member *site* ids."""

    id: str
    price_minor_per_kwh: int
    rule: Rule = "pro_rata"
    coefficients: Mapping[str, Fraction] = field(default_factory=dict)
    priority: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _ident(self.id, "community id")
        _nat(self.price_minor_per_kwh, "community price", limit=MAX_PRICE)


@dataclass(frozen=True)
class Tariffs:
    """Grid tariffs of the interval, per kWh in minor units of ``currency``."""

    currency: str
    retail_minor_per_kwh: int
    imbalance_minor_per_kwh: int

    def __post_init__(self) -> None:
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ValueError(f"{self.currency!r} is not an ISO 4217 code")
        _nat(self.retail_minor_per_kwh, "retail tariff", limit=MAX_PRICE)
        _nat(self.imbalance_minor_per_kwh, "imbalance charge", limit=MAX_PRICE)


@dataclass(frozen=True)
class IntervalInput:
    """Everything one interval's settlement reads. ``interval`` is the delivery start, epoch ms."""

    interval: int
    tariffs: Tariffs
    sites: tuple[Site, ...]
    trades: tuple[Trade, ...] = ()
    communities: tuple[Community, ...] = ()

    def __post_init__(self) -> None:
        _nat(self.interval, "interval", limit=2**63)
        sites = {s.id: s for s in self.sites}
        if len(sites) != len(self.sites):
            raise ValueError("a site appears twice")
        if len({t.id for t in self.trades}) != len(self.trades):
            raise ValueError("a trade appears twice")
        for t in self.trades:
            for site_id, party in ((t.buyer_site_id, t.buyer_id), (t.seller_site_id, t.seller_id)):
                if site_id not in sites:
                    raise ValueError(f"trade {t.id}: site {site_id} is not in the interval's sites")
                if sites[site_id].host_id != party:
                    raise ValueError(f"trade {t.id}: {party} is not the host of site {site_id}")
        known = {c.id for c in self.communities}
        for s in self.sites:
            if s.community_id is not None and s.community_id not in known:
                raise ValueError(f"site {s.id}: community {s.community_id} has no rule in the input")


@dataclass(frozen=True)
class IntervalSettlement:
    """The postings of one interval and the energy figures behind them (for statements)."""

    interval: int
    postings: tuple[Posting, ...]
    delivered_wh: Mapping[str, int]
    """trade id -> Wh delivered (the rest of the trade is its shortfall)."""
    shared_wh: Mapping[tuple[str, str], int]
    """(provider site, recipient site) -> Wh shared in their community."""
    fed_in_wh: Mapping[str, int]
    """site id -> Wh bought by the grid at its feed-in tariff."""


def trade_money(energy_wh: int, price: int, grid_fee: int) -> tuple[int, int]:
    """(to the seller, to the grid) for ``energy_wh`` of a trade: the buyer pays
    ``floor(e * (p + f) / 1000)``, the seller gets ``floor(e * p / 1000)``, the grid the rest (the market's
    ``trade_cost_minor``, so the escrow after clearing holds exactly the sum over the trade's energy)."""
    total = energy_wh * (price + grid_fee) // 1000
    seller = energy_wh * price // 1000
    return seller, total - seller


def deliveries(inp: IntervalInput) -> dict[str, int]:
    """Trade id -> delivered Wh: each seller site's trades delivered up to its net export (see the rules)."""
    by_seller: dict[str, dict[str, int]] = {}
    for t in inp.trades:
        by_seller.setdefault(t.seller_site_id, {})[t.id] = t.energy_wh
    sites = {s.id: s for s in inp.sites}
    out: dict[str, int] = {}
    for site_id, trades in by_seller.items():
        exported, sold = sites[site_id].net_export, sum(trades.values())
        out.update(trades if exported >= sold else largest_remainder(exported, trades))
    return out


def _sale_entries(site: Site, gross: int, currency: str) -> list[tuple[str, str, int]]:
    """Credits of a sale of ``site``'s energy: host / investors / platform (the 45/35/20 split)."""
    if gross == 0:
        return []
    split = split_sale(gross, site.investor_shares, no_investors=site.no_investors)
    entries = [(wallet_account(site.host_id, currency), currency, split.host)]
    entries += [(wallet_account(i, currency), currency, split.investors[i]) for i in sorted(split.investors)]
    if split.pool:
        entries.append((pool_account(site.id, currency), currency, split.pool))
    entries.append((platform_account(currency), currency, split.platform))
    return entries


def _pair(providers: Sequence[tuple[str, int]], recipients: Sequence[tuple[str, int]]) -> list[tuple[str, str, int]]:
    """(provider, recipient, Wh) flows, each list in order, the first provider to the first recipient
    until one is exhausted (both lists sum to the same total)."""
    flows: list[tuple[str, str, int]] = []
    i = j = 0
    give = [wh for _, wh in providers]
    take = [wh for _, wh in recipients]
    while i < len(give) and j < len(take):
        wh = min(give[i], take[j])
        if wh:
            flows.append((providers[i][0], recipients[j][0], wh))
        give[i] -= wh
        take[j] -= wh
        if give[i] == 0:
            i += 1
        if take[j] == 0:
            j += 1
    return flows


def settle(inp: IntervalInput) -> IntervalSettlement:
    """The postings of one interval (see the module docstring), in posting order."""
    cur, at = inp.tariffs.currency, inp.interval
    sites = {s.id: s for s in inp.sites}
    delivered = deliveries(inp)
    out: list[Posting | None] = []

    def add(party: str, kind: str, ref: str, entries: list[tuple[str, str, int]], **meta: MetadataValue) -> None:
        out.append(posting(at, party, kind, ref, entries, **meta))

    sold_delivered: dict[str, int] = {}
    bought: dict[str, int] = {}
    received: dict[str, int] = {}
    for t in sorted(inp.trades, key=lambda t: t.id):
        d, short = delivered[t.id], t.energy_wh - delivered[t.id]
        sold_delivered[t.seller_site_id] = sold_delivered.get(t.seller_site_id, 0) + d
        bought[t.buyer_site_id] = bought.get(t.buyer_site_id, 0) + t.energy_wh
        received[t.buyer_site_id] = received.get(t.buyer_site_id, 0) + d
        p, f = t.price_minor_per_kwh, t.grid_fee_minor_per_kwh
        to_seller, to_grid = trade_money(d, p, f)
        held = sum(trade_money(t.energy_wh, p, f))
        escrow = escrow_account(t.buyer_id, cur)
        credits = [(credits_account(t.seller_id), KWH, -d), (credits_account(t.buyer_id), KWH, d)] if d else []
        meta: dict[str, MetadataValue] = {"trade": t.id, "energyWh": t.energy_wh, "deliveredWh": d, "price": p}
        money = [(escrow, cur, -to_seller), *_sale_entries(sites[t.seller_site_id], to_seller, cur)]
        add(t.buyer_id, "trade", t.id, money + credits, seller=t.seller_id, site=t.seller_site_id, **meta)
        add(t.buyer_id, "grid_fee", t.id, [(escrow, cur, -to_grid), (grid_account(cur), cur, to_grid)], fee=f, **meta)
        unused = held - to_seller - to_grid
        add(t.buyer_id, "release", t.id, [(escrow, cur, -unused), (wallet_account(t.buyer_id, cur), cur, unused)])
        if short:
            retail = short * inp.tariffs.retail_minor_per_kwh // 1000
            add(
                t.buyer_id,
                "shortfall",
                t.id,
                [(wallet_account(t.buyer_id, cur), cur, -retail), (grid_account(cur), cur, retail)],
                shortfallWh=short,
                retail=inp.tariffs.retail_minor_per_kwh,
            )
            charge = short * inp.tariffs.imbalance_minor_per_kwh // 1000
            add(
                t.seller_id,
                "imbalance",
                t.id,
                [(wallet_account(t.seller_id, cur), cur, -charge), (grid_account(cur), cur, charge)],
                shortfallWh=short,
                imbalance=inp.tariffs.imbalance_minor_per_kwh,
            )

    surplus = {s.id: s.net_export - sold_delivered.get(s.id, 0) for s in inp.sites}
    deficit = {s.id: max(0, s.net_import - bought.get(s.id, 0)) for s in inp.sites}
    shared_out: dict[str, int] = {}
    shared: dict[tuple[str, str], int] = {}
    for community in sorted(inp.communities, key=lambda c: c.id):
        members = sorted(s.id for s in inp.sites if s.community_id == community.id)
        allocation = allocate(
            [MemberEnergy(m, surplus[m], deficit[m]) for m in members],
            community.rule,
            coefficients=community.coefficients,
            priority=community.priority,
        )
        providers = [(a.member_id, a.shared_out) for a in allocation.members if a.shared_out]
        recipients = [(a.member_id, a.shared_in) for a in allocation.members if a.shared_in]
        for provider_id, recipient_id, wh in _pair(providers, recipients):
            provider, recipient = sites[provider_id], sites[recipient_id]
            shared[provider_id, recipient_id] = wh
            shared_out[provider_id] = shared_out.get(provider_id, 0) + wh
            received[recipient_id] = received.get(recipient_id, 0) + wh
            gross = wh * community.price_minor_per_kwh // 1000
            add(
                recipient.host_id,
                "community",
                f"{provider_id}.{recipient_id}",
                [
                    (wallet_account(recipient.host_id, cur), cur, -gross),
                    *_sale_entries(provider, gross, cur),
                    (credits_account(provider.host_id), KWH, -wh),
                    (credits_account(recipient.host_id), KWH, wh),
                ],
                community=community.id,
                energyWh=wh,
                price=community.price_minor_per_kwh,
                site=provider_id,
            )

    fed_in: dict[str, int] = {}
    for s in sorted(inp.sites, key=lambda s: s.id):
        x = s.net_export
        if x:
            add(s.host_id, "mint", s.id, [(grid_account(KWH), KWH, -x), (credits_account(s.host_id), KWH, x)])
        left = surplus[s.id] - shared_out.get(s.id, 0)
        if left:
            fed_in[s.id] = left
            gross = left * s.feed_in_minor_per_kwh // 1000
            add(
                s.host_id,
                "feed_in",
                s.id,
                [
                    (grid_account(cur), cur, -gross),
                    *_sale_entries(s, gross, cur),
                    (credits_account(s.host_id), KWH, -left),
                    (grid_account(KWH), KWH, left),
                ],
                energyWh=left,
                price=s.feed_in_minor_per_kwh,
            )
        burn = min(received.get(s.id, 0), s.net_import)
        if burn:
            add(
                s.host_id,
                "burn",
                s.id,
                [(credits_account(s.host_id), KWH, -burn), (grid_account(KWH), KWH, burn)],
                receivedWh=received[s.id],
                netImportWh=s.net_import,
            )

    postings = sorted((p for p in out if p is not None), key=Posting.sort_key)
    return IntervalSettlement(at, tuple(postings), delivered, shared, fed_in)
