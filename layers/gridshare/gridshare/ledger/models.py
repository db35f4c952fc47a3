"""The ledger's tables: transactions (idempotency ids), account balances, hash-chained entries.

Wallets is the only context that writes them (gridshare.ledger.store); others call the wallets service.
"""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


def entry_pk(account: str, asset: str) -> str:
    """Partition key of one account's chain of entries."""
    return f"ACCT#{account}#{asset}"


class LedgerTransactionModel(Model):
    """One posted transaction, keyed by its idempotency id.

    Written with ``attribute_not_exists(id)``: its existence is what makes a retry a no-op, and
    ``body_hash`` is what tells a retry (same body) from a reused id (another body). ``entries`` and
    ``metadata`` are canonical JSON, so the first result can be returned to every replay.
    """

    class Meta(TableMeta):
        logical_name = "ledger_transactions"

    id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    body_hash = UnicodeAttribute()
    entries = UnicodeAttribute()  # JSON: [[account, asset, amount], ...] in posting order
    metadata = UnicodeAttribute()  # JSON object of scalars
    created_at = NumberAttribute()


class LedgerAccountModel(Model):
    """An account's balance and the head of its entry chain.

    ``seq`` (entries so far) and ``head_hash`` (the last entry's chain hash) are what the next post links
    to; the post's update is conditioned on ``seq`` so two concurrent posts cannot both extend the chain
    from the same head. ``balance`` may go negative only for external counterparties.
    """

    class Meta(TableMeta):
        logical_name = "ledger_accounts"

    account = UnicodeAttribute(hash_key=True)
    asset = UnicodeAttribute(range_key=True)
    balance = NumberAttribute(default=0)
    seq = NumberAttribute(default=0)
    head_hash = UnicodeAttribute()
    updated_at = NumberAttribute()


class LedgerEntryModel(Model):
    """One entry of one account's chain: pk ``ACCT#<account>#<asset>``, sk = sequence (1, 2, ...).

    Append-only (put with ``attribute_not_exists``); statements read an account's entries in sequence
    order, and ``gridshare ledger verify`` recomputes every ``hash`` from ``prev_hash`` and the entry.
    """

    class Meta(TableMeta):
        logical_name = "ledger_entries"

    pk = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    account = UnicodeAttribute()
    asset = UnicodeAttribute()
    amount = NumberAttribute()
    tx_id = UnicodeAttribute()
    tx_type = UnicodeAttribute()
    prev_hash = UnicodeAttribute()
    hash = UnicodeAttribute()
    balance_after = NumberAttribute()
    created_at = NumberAttribute()


TABLES: tuple[type[Model], ...] = (
    LedgerTransactionModel,
    LedgerAccountModel,
    LedgerEntryModel,
)
