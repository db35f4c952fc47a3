"""Settlement postings into the ledger: wallets stays the ledger's only writer (decision 0023).

The settlement context computes its postings (balanced entries with deterministic ids,
``gridshare.settlement.postings``) and hands each one here as plain values. :func:`post_settlement` posts
it as ONE ledger transaction of type ``settlement``, the posting id as its idempotency key, the posting's
kind and metadata (interval, energy, price, delivered and shortfall Wh, ...) as its metadata: what the
daily statements show per line.

**A charge the wallet cannot cover** (a shortfall at retail, an imbalance charge, a community purchase, a
reversal that takes back revenue already spent): the ledger refuses the wallet form (``InsufficientFunds``,
nothing posted). The same id is then posted in its *receivable* form: that wallet's debit moves to the
user's receivable (``receivable:<userId>:<CUR>``, which may go negative: what the user owes), the metadata
lists whose debits moved (``receivable``, comma-separated user ids). Settlement never stalls on an empty
wallet, and every other leg (the grid, the seller, the split) is booked as in the wallet form.

**Exactly once.** A retry posts the wallet form first again: a replay of the stored wallet form is a
no-op; when the stored transaction is the receivable form of this posting, the ledger answers with
``DuplicateTransactionConflict`` and the stored form is checked (same body once the same debits are moved)
and taken as done. Anything else under the same id is a real conflict and raises.

**Reversals** (``reverses`` = the original posting's id) negate the original as the ledger holds it, so a
correction of a posting booked to a receivable gives the receivable back, never the wallet.

**Clearing accounts** (decision 0028). With ``clearing`` (``<runId>.<shard>``), the grid's and the platform's
legs (``grid:counterparty:<ASSET>``, ``platform:revenue:<CUR>``) go to that shard's clearing accounts
(``clearing:<runId>.<shard>:grid:<ASSET>`` / ``...:platform:<CUR>``), which no other shard touches: the
shared heads are written once per shard and asset, by :func:`sweep_clearing`, instead of once per posting.
A reversal's legs on another run's clearing account (the original was posted by an earlier run, whose
clearing accounts are already swept) go to the current shard's. The body is deterministic per posting id
and shard; when the id is already stored with the same movement on another shard's clearing accounts (a
run that posted it and failed before recording it), the stored transaction is taken as done and its
clearing accounts are reported (``SettlementPosted.clearing``) so the caller sweeps them too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gridshare.ledger import core as L
from gridshare.ledger.core import DuplicateTransactionConflict, Entry, InsufficientFunds, Transaction

__all__ = ["SettlementPosted", "clearing_accounts", "post_settlement", "receivable_form", "sweep_clearing", "sweep_id"]

FORMS = ("wallet", "receivable")


@dataclass(frozen=True)
class SettlementPosted:
    """A posted settlement posting: the transaction as the ledger holds it, its form, whether replayed."""

    transaction: Transaction
    form: str
    replayed: bool

    @property
    def clearing(self) -> frozenset[str]:
        """The clearing accounts the stored transaction holds legs on (to be swept)."""
        return clearing_accounts(self.transaction)


def clearing_accounts(tx: Transaction) -> frozenset[str]:
    return frozenset(e.account for e in tx.entries if L.parse_account(e.account).kind in L.CLEARING_KINDS)


def _to_clearing(entry: Entry, owner: str) -> Entry:
    """``entry`` on the shard ``owner``'s clearing account when it is a grid or platform leg (of any run)."""
    kind = L.parse_account(entry.account).kind
    if kind in ("grid_counterparty", "grid_clearing"):
        return Entry(L.clearing_account(owner, "grid", entry.asset), entry.asset, entry.amount)
    if kind in ("platform_revenue", "platform_clearing"):
        return Entry(L.clearing_account(owner, "platform", entry.asset), entry.asset, entry.amount)
    return entry


def _shared(tx: Transaction) -> Transaction:
    """``tx`` with every clearing leg named by its shared account: the movement, whichever shard cleared it."""
    entries = []
    for e in tx.entries:
        ref = L.parse_account(e.account)
        if ref.kind == "grid_clearing":
            e = Entry(L.grid_counterparty(e.asset), e.asset, e.amount)
        elif ref.kind == "platform_clearing":
            e = Entry(L.platform_revenue(e.asset), e.asset, e.amount)
        entries.append(e)
    return Transaction(tx.id, tx.type, tuple(entries), tx.metadata, tx.created_at)


def _same_movement(stored: Transaction, tx: Transaction) -> bool:
    if stored.body_hash() == tx.body_hash() or _is_form_of(stored, tx):
        return True
    shared = _shared(stored)
    return shared.body_hash() == _shared(tx).body_hash() or _is_form_of(shared, _shared(tx))


def receivable_form(tx: Transaction, users: Sequence[str]) -> Transaction:
    """``tx`` with the wallet debits of ``users`` moved to their receivables (see the module docstring)."""
    moved = set(users)
    entries = []
    for e in tx.entries:
        ref = L.parse_account(e.account)
        if ref.kind == "wallet" and ref.owner in moved and e.amount < 0:
            entries.append(Entry(L.receivable(ref.owner, e.asset), e.asset, e.amount))
        else:
            entries.append(e)
    metadata = {**tx.metadata, "receivable": ",".join(sorted(moved))}
    return Transaction(tx.id, tx.type, tuple(entries), metadata, tx.created_at)


def _is_form_of(stored: Transaction, tx: Transaction) -> bool:
    users = stored.metadata.get("receivable")
    if not isinstance(users, str) or not users:
        return False
    return receivable_form(tx, users.split(",")).body_hash() == stored.body_hash()


def _wallet_owner(account: str) -> str | None:
    ref = L.parse_account(account)
    return ref.owner if ref.kind == "wallet" else None


def post_settlement(
    tx_id: str,
    entries: Sequence[tuple[str, str, int]],
    *,
    metadata: Mapping[str, L.MetadataValue],
    created_at: int,
    ledger: L.LedgerPort,
    reverses: str | None = None,
    clearing: str | None = None,
) -> SettlementPosted:
    """Post one settlement posting (see the module docstring); returns its form and whether it replayed.

    ``reverses``: the id of the posting this one undoes; its stored transaction is negated (``entries`` are
    then ignored). ``clearing``: the ``<runId>.<shard>`` whose clearing accounts take the grid and platform
    legs (see the module docstring). Raises ``DuplicateTransactionConflict`` when another body holds the id, and
    ``InsufficientFunds`` when an account other than a wallet (credits, an escrow) cannot cover it."""
    if reverses is not None:
        original = ledger.transaction(reverses)
        if original is None:
            raise L.InvalidTransaction(f"{tx_id} reverses {reverses}, which is not in the ledger", field="reverses")
        legs = tuple(e.negated() for e in original.entries)
    else:
        legs = tuple(Entry(account, asset, amount) for account, asset, amount in entries)
    if clearing is not None:
        legs = tuple(_to_clearing(e, clearing) for e in legs)
    tx = Transaction(tx_id, "settlement", legs, dict(metadata), created_at)
    moved: list[str] = []
    candidate = tx
    for _ in range(len(legs) + 1):
        try:
            result = ledger.post(candidate)
        except InsufficientFunds as exc:
            owner = _wallet_owner(exc.account)
            if owner is None or owner in moved:
                raise
            moved.append(owner)
            candidate = receivable_form(tx, moved)
            continue
        except DuplicateTransactionConflict:
            stored = ledger.transaction(tx_id)
            if stored is None or not _same_movement(stored, tx):
                raise
            return SettlementPosted(stored, _form(stored), True)
        return SettlementPosted(result.transaction, _form(result.transaction), result.replayed)
    raise AssertionError("unreachable: each refusal moves one more wallet")  # pragma: no cover


def _form(tx: Transaction) -> str:
    return "receivable" if tx.metadata.get("receivable") else "wallet"


SWEEP_TARGETS: dict[str, Callable[[str], L.AccountId]] = {
    "grid_clearing": L.grid_counterparty,
    "platform_clearing": L.platform_revenue,
}


def sweep_id(account: str, n: int) -> str:
    """The ``n``-th sweep of a clearing account: ``sweep:<runId>.<shard>:<side>:<ASSET>:s<n>`` (not under
    ``stl:``, the prefix of interval postings)."""
    ref = L.parse_account(account)
    side = "grid" if ref.kind == "grid_clearing" else "platform"
    return f"sweep:{ref.owner}:{side}:{ref.asset}:s{n}"


def sweep_clearing(account: str, *, ledger: L.LedgerPort, created_at: int) -> Transaction | None:
    """Move a clearing account's balance to its shared account (``grid:counterparty:<ASSET>`` or
    ``platform:revenue:<CUR>``) in ONE ``settlement`` transaction of kind ``sweep``; None when it is at 0.

    Ids are ``sweep_id(account, 1)``, ``2``, ...: the first one not in the ledger is used, so a retried
    shard whose sweep is already posted finds the account at 0 and posts nothing, and a shard that posted
    again after its sweep (its inputs changed between attempts) sweeps the rest under the next id."""
    ref = L.parse_account(account)
    if ref.kind not in SWEEP_TARGETS:
        raise L.InvalidTransaction(f"{account} is not a clearing account", field="account")
    n = 1
    while ledger.transaction(sweep_id(account, n)) is not None:
        n += 1
    balance = ledger.balance(account, ref.asset)
    if balance == 0:
        return None
    target = SWEEP_TARGETS[ref.kind](ref.asset)
    run_shard = ref.owner
    tx = Transaction(
        sweep_id(account, n),
        "settlement",
        (Entry(account, ref.asset, -balance), Entry(target, ref.asset, balance)),
        {"kind": "sweep", "clearing": account, "runShard": run_shard},
        created_at,
    )
    return ledger.post(tx).transaction
