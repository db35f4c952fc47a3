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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gridshare.ledger import core as L
from gridshare.ledger.core import DuplicateTransactionConflict, Entry, InsufficientFunds, Transaction

__all__ = ["SettlementPosted", "post_settlement", "receivable_form"]

FORMS = ("wallet", "receivable")


@dataclass(frozen=True)
class SettlementPosted:
    """A posted settlement posting: the transaction as the ledger holds it, its form, whether replayed."""

    transaction: Transaction
    form: str
    replayed: bool


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
) -> SettlementPosted:
    """Post one settlement posting (see the module docstring); returns its form and whether it replayed.

    ``reverses``: the id of the posting this one undoes; its stored transaction is negated (``entries`` are
    then ignored). Raises ``DuplicateTransactionConflict`` when another body holds the id, and
    ``InsufficientFunds`` when an account other than a wallet (credits, an escrow) cannot cover it."""
    if reverses is not None:
        original = ledger.transaction(reverses)
        if original is None:
            raise L.InvalidTransaction(f"{tx_id} reverses {reverses}, which is not in the ledger", field="reverses")
        legs = tuple(e.negated() for e in original.entries)
    else:
        legs = tuple(Entry(account, asset, amount) for account, asset, amount in entries)
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
            if stored is None or not (stored.body_hash() == tx.body_hash() or _is_form_of(stored, tx)):
                raise
            return SettlementPosted(stored, _form(stored), True)
        return SettlementPosted(result.transaction, _form(result.transaction), result.replayed)
    raise AssertionError("unreachable: each refusal moves one more wallet")  # pragma: no cover


def _form(tx: Transaction) -> str:
    return "receivable" if tx.metadata.get("receivable") else "wallet"
