"""Settlement postings: balanced ledger transaction descriptions with deterministic ids, and re-runs.

Pure Python, stdlib only. A :class:`Posting` is what one settlement rule moves for one party in one
interval: entries ``(account, asset, amount)`` that sum to zero per asset (money in minor units, energy
credits in Wh), netted per account (an account that is both debited and credited appears once, with the
net) and sorted, so the same movement always has the same body. The ledger adapter turns a posting into a
:class:`gridshare.ledger.core.Transaction` with the posting's id as the idempotency key.

**Ids.** ``stl:<interval>:<party>:<kind>:<ref>:r<revision>``: the interval start (epoch ms), the party the
posting is about (the payer, or the producer for a mint or a feed-in), the rule (:data:`KINDS`), the
trade, site or site pair it is for, and the revision (1 for the first run). Every part is derived from the
inputs, so running the same interval twice produces the same ids and the ledger posts nothing twice.
The *key* of a posting is the id without its revision: one key is one movement a settlement may revise.

**Re-runs** (:func:`diff`). When corrected or late readings change an interval already settled, the new
run's postings are compared, key by key, with what is in effect (every posting of the interval's
history not reversed since):

- same body: nothing is posted;
- a posting in effect that the new run changes or no longer produces is *reversed*: a posting of kind
  ``reversal`` with the negated entries, id ``<original id>:x``, ``reverses`` = the original id;
- a new or changed movement is *reposted* at the next revision of its key (one above any revision the
  key ever had), with ``first`` = the id of revision 1 when there was one: the link to the first run.

Applying the diff to the history leaves, per account, exactly the net of the new run; a second diff with
the same inputs is empty. Nothing is ever edited: corrections are reversals and reposts.

**Order of a diff.** A correction must not take energy credits or a market escrow below zero on the way,
even where its end state is fine: e.g. a producer's mint is reversed while a burn its credits paid for
stands. These are the accounts whose balance the settlement's own postings determine (wallets hold other
money too, so their real balance is not known here). :func:`diff` therefore orders its postings so that
no such account goes below ``min(0, before, after)`` on the way, its balance as the history's postings
tell: credits never below zero, and an escrow (funded by clearing, so negative in this view) never below
what it held before and after, i.e. a correction never spends escrow it does not hold.

It takes the canonical order -- (1) reversals except mints, in reverse posting order, (2) reposted mints,
(3) reversed mints, (4) the other reposts in posting order -- and emits, pass after pass, every posting
that fits. When some never fit (movements that trade places: a community's energy shifting from one
provider to another while the recipient's burn stays), it undoes the interval whole (every posting in
effect reversed, in reverse posting order) and redoes it (every new posting, in posting order): the
states on the way are then those of the two runs themselves. Only such corrections repost unchanged
movements; the reference-ledger property test posts every diff on the ledger's reference model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "KINDS",
    "MetadataValue",
    "Posting",
    "diff",
    "escrow_account",
    "grid_account",
    "net_by_account",
    "platform_account",
    "pool_account",
    "posting",
    "party_prefix",
    "posting_id",
    "wallet_account",
    "credits_account",
]

KINDS: tuple[str, ...] = (
    "mint",
    "trade",
    "grid_fee",
    "release",
    "feed_in",
    "community",
    "shortfall",
    "imbalance",
    "burn",
)
"""The rules' posting kinds, in the order a run posts them: credits are minted before they move, revenue
and releases reach wallets before the charges that debit wallets, consumption burns last."""

_KIND_RANK = {kind: n for n, kind in enumerate(KINDS)}
ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
"""Party, site, trade and order ids: what a posting id can carry verbatim (generated ids: UUIDs, ULIDs)."""

MetadataValue = str | int | bool | None
MAX_ID = 200
"""The ledger's longest transaction id; a reversal adds ``:x`` to its original's id."""


def wallet_account(user_id: str, currency: str) -> str:
    return f"user:{user_id}:wallet:{currency}"


def escrow_account(user_id: str, currency: str) -> str:
    """The buyer's market escrow, where a BID's reservation is held until settlement (market context)."""
    return f"user:{user_id}:escrow:{currency}"


def credits_account(user_id: str) -> str:
    return f"user:{user_id}:credits:KWH"


def platform_account(currency: str) -> str:
    return f"platform:revenue:{currency}"


def pool_account(site_id: str, currency: str) -> str:
    return f"investors:pool:{site_id}:{currency}"


def grid_account(asset: str) -> str:
    """The grid counterparty in a currency (fees, retail, imbalance, feed-in) or in KWH (credits)."""
    return f"grid:counterparty:{asset}"


def posting_id(interval: int, party: str, kind: str, ref: str, revision: int = 1) -> str:
    return f"{party_prefix(interval, party)}{kind}:{ref}:r{revision}"


def party_prefix(interval: int, party: str) -> str:
    """What every posting id of ``party`` in ``interval`` starts with (a reversal's ``<id>:x`` too)."""
    return f"stl:{interval}:{party}:"


def net_by_account(entries: Iterable[tuple[str, str, int]]) -> dict[tuple[str, str], int]:
    """Sum of amounts per (account, asset)."""
    out: dict[tuple[str, str], int] = {}
    for account, asset, amount in entries:
        out[account, asset] = out.get((account, asset), 0) + amount
    return out


@dataclass(frozen=True)
class Posting:
    """One balanced movement of one settlement rule for one party and interval (see the module docstring).

    ``metadata`` explains the movement on statements (energy, price, delivered and shortfall Wh); it is
    part of the body, so a changed price or energy is a changed posting. ``reverses`` (a reversal's
    original id) and ``first`` (a repost's revision-1 id) are links, not body.
    """

    interval: int
    party: str
    kind: str
    ref: str
    revision: int
    entries: tuple[tuple[str, str, int], ...]
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    reverses: str | None = None
    first: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KIND_RANK and self.kind != "reversal":
            raise ValueError(f"unknown posting kind {self.kind!r}")
        for what, value in (("party", self.party), ("ref", self.ref)):
            if not ID_PART.fullmatch(value):
                raise ValueError(f"posting {what} {value!r} is not an id")
        if type(self.interval) is not int or self.interval < 0 or type(self.revision) is not int or self.revision < 1:
            raise ValueError("interval must be epoch ms and revision >= 1")
        if len(posting_id(self.interval, self.party, self.kind, self.ref, self.revision)) + 2 > MAX_ID:
            raise ValueError(f"posting id of {self.key} is longer than {MAX_ID - 2} characters")
        nets = net_by_account(self.entries)
        totals: dict[str, int] = {}
        for (_account, asset), amount in nets.items():
            totals[asset] = totals.get(asset, 0) + amount
        if any(totals.values()):
            raise ValueError(f"posting {self.id} does not balance per asset: {totals}")
        entries = tuple(sorted((a, s, n) for (a, s), n in nets.items() if n))
        if len(entries) < 2:
            raise ValueError(f"posting {self.id} moves nothing")
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def id(self) -> str:
        base = posting_id(self.interval, self.party, self.kind, self.ref, self.revision)
        return f"{self.reverses}:x" if self.reverses else base

    @property
    def key(self) -> tuple[int, str, str, str]:
        """What the posting is about, whatever its revision: (interval, party, kind, ref)."""
        return (self.interval, self.party, self.kind, self.ref)

    def body(self) -> tuple[object, ...]:
        return (self.entries, tuple(sorted(self.metadata.items())))

    def amount(self, account: str) -> int:
        return sum(n for a, _s, n in self.entries if a == account)

    def reversal(self) -> Posting:
        """The posting that undoes this one: negated entries, id ``<id>:x``."""
        return Posting(
            self.interval,
            self.party,
            "reversal",
            self.ref,
            self.revision,
            tuple((a, s, -n) for a, s, n in self.entries),
            {"reversedKind": self.kind},
            reverses=self.id,
        )

    def sort_key(self) -> tuple[int, int, str, str, int]:
        """Posting order: interval, rule (:data:`KINDS`; a reversal ranks as the kind it reverses), party, ref."""
        kind = str(self.metadata["reversedKind"]) if self.reverses else self.kind
        return (self.interval, _KIND_RANK[kind], self.party, self.ref, self.revision)


def posting(
    interval: int,
    party: str,
    kind: str,
    ref: str,
    entries: Sequence[tuple[str, str, int]],
    **metadata: MetadataValue,
) -> Posting | None:
    """A revision-1 posting, or None when its entries net to nothing (a zero amount moves nothing)."""
    if not any(net_by_account(entries).values()):
        return None
    return Posting(interval, party, kind, ref, 1, tuple(entries), metadata)


def _original_key(p: Posting, by_id: Mapping[str, Posting]) -> tuple[int, str, str, str]:
    return by_id[p.reverses].key if p.reverses else p.key


def diff(history: Sequence[Posting], new: Sequence[Posting]) -> list[Posting]:
    """Reversals and reposts that turn ``history`` (everything already posted for these intervals,
    reversals included) into the effect of ``new`` (a fresh run's revision-1 postings), in the order of
    the module docstring. Empty when nothing changed."""
    by_id = {p.id: p for p in history}
    reversed_ids = {p.reverses for p in history if p.reverses}
    in_effect: dict[tuple[int, str, str, str], Posting] = {}
    top_revision: dict[tuple[int, str, str, str], int] = {}
    first_ids: dict[tuple[int, str, str, str], str] = {}
    for p in history:
        key = _original_key(p, by_id)
        top_revision[key] = max(top_revision.get(key, 0), p.revision)
        if p.reverses:
            continue
        if p.revision == 1:
            first_ids[key] = p.id
        if p.id not in reversed_ids:
            if key in in_effect:
                raise ValueError(f"two postings of {key} are in effect: {in_effect[key].id}, {p.id}")
            in_effect[key] = p
    wanted: dict[tuple[int, str, str, str], Posting] = {}
    for p in new:
        if p.key in wanted:
            raise ValueError(f"the new run has two postings of {p.key}")
        wanted[p.key] = p
    before = net_by_account(e for p in history for e in p.entries)
    changes = _changes(in_effect, wanted, top_revision, first_ids, rebuild=False)
    ordered = _safe_order(changes, before)
    if ordered is None:  # no safe order of the difference: undo the interval whole, then redo it
        ordered = _safe_order(_changes(in_effect, wanted, top_revision, first_ids, rebuild=True), before)
        if ordered is None:  # the ledger would refuse it: fail the run loudly, before posting anything
            raise ValueError("no order of the correction keeps every account above zero")
    return ordered


Key = tuple[int, str, str, str]


def _changes(
    in_effect: Mapping[Key, Posting],
    wanted: Mapping[Key, Posting],
    top_revision: Mapping[Key, int],
    first_ids: Mapping[Key, str],
    *,
    rebuild: bool,
) -> list[Posting]:
    """The reversals and reposts in canonical order (module docstring); with ``rebuild``, every posting
    in effect is reversed and every new one reposted, changed or not."""
    reversals: list[Posting] = []
    reposts: list[Posting] = []
    for key in sorted(set(in_effect) | set(wanted)):
        old, fresh = in_effect.get(key), wanted.get(key)
        if not rebuild and old is not None and fresh is not None and old.body() == fresh.body():
            continue
        if old is not None:
            reversals.append(old.reversal())
        if fresh is not None:
            revision = top_revision.get(key, 0) + 1
            reposts.append(
                Posting(
                    fresh.interval,
                    fresh.party,
                    fresh.kind,
                    fresh.ref,
                    revision,
                    fresh.entries,
                    fresh.metadata,
                    first=first_ids.get(key) if revision > 1 else None,
                )
            )
    reversals.sort(key=Posting.sort_key, reverse=True)
    reposts.sort(key=Posting.sort_key)
    if rebuild:
        return reversals + reposts
    return (
        [p for p in reversals if _reversed_kind(p) != "mint"]
        + [p for p in reposts if p.kind == "mint"]
        + [p for p in reversals if _reversed_kind(p) == "mint"]
        + [p for p in reposts if p.kind != "mint"]
    )


def _guarded(account: str) -> bool:
    """Accounts whose balance the settlement's own postings determine: energy credits and the market
    escrow. Wallets, pools and the platform's revenue hold other money too, so the settlement's view of
    them says nothing about their real balance; the grid may go negative."""
    return account.endswith(":credits:KWH") or ":escrow:" in account


def _safe_order(canonical: list[Posting], before: Mapping[tuple[str, str], int]) -> list[Posting] | None:
    """``canonical`` reordered so that no account that may not go negative drops below zero or, where the
    settlement's own postings leave it below zero (an escrow clearing funded, a wallet that paid a
    shortfall), below the lower of its balance ``before`` and after (module docstring); passes over what
    is left until nothing more fits."""
    balance = dict(before)
    after = dict(before)
    for p in canonical:
        for account, asset, amount in p.entries:
            after[account, asset] = after.get((account, asset), 0) + amount
    floor = {key: min(0, balance.get(key, 0), value) for key, value in after.items()}
    out: list[Posting] = []
    pending = canonical
    while pending:
        left: list[Posting] = []
        for p in pending:
            fits = all(
                amount >= 0
                or not _guarded(account)
                or balance.get((account, asset), 0) + amount >= floor[account, asset]
                for account, asset, amount in p.entries
            )
            if fits:
                out.append(p)
                for account, asset, amount in p.entries:
                    balance[account, asset] = balance.get((account, asset), 0) + amount
            else:
                left.append(p)
        if len(left) == len(pending):
            return None
        pending = left
    return out


def _reversed_kind(p: Posting) -> str:
    return str(p.metadata["reversedKind"])
