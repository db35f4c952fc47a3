"""Investments in sites: the investor's money moves to the site's investment account in ONE transaction.

The sites context records who invested what (its own table) and calls :func:`record_investment` through
``gridshare.wallets.service``: wallets stays the ledger's only writer of money. The transaction id is
``investment:<investmentId>``, the id derived from the client's ``Idempotency-Key`` when it sent one, so a
retried request posts nothing twice. Without the funds, nothing is posted (409, field ``amount``, as a
withdrawal is refused).

Returns (:func:`site_returns`): what an investor received from a site so far, read from the ledger. A sale
(``ledger.core.sale_transaction``) pays investors straight into their wallets and names its site in its
metadata (``site_id``); a pool payout names it too; so does a settlement sale (``settlement`` transactions
of kind trade, community or feed-in, and their reversals, with ``host_id``). So the returns of a site are
the investor's wallet credits of ``sale`` and ``pool_payout`` transactions of that site, plus the net of
its ``settlement`` sales. When the investor is also the sale's
host, their host part is a separate entry listed before the investor parts (the builder's order), and is
left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gridshare.ledger import core as L
from gridshare.ledger.core import InsufficientFunds, Transaction
from gridshare.ledger.store import LedgerStore
from gridshare.wallets.limits import INVESTMENT_MAX
from gridshare.wallets.movements import InsufficientBalance, check_amount, checked_currency

__all__ = [
    "INVESTMENT_MAX",
    "InvestmentPosted",
    "investment_posted",
    "investment_tx_id",
    "record_investment",
    "site_returns",
]

RETURN_TYPES = ("sale", "pool_payout", "settlement")


def investment_tx_id(investment_id: str) -> str:
    return f"investment:{investment_id}"


@dataclass(frozen=True)
class InvestmentPosted:
    transaction: Transaction
    replayed: bool


def record_investment(
    investment_id: str,
    *,
    investor_id: str,
    site_id: str,
    amount: int,
    currency: str | None,
    created_at: int | None = None,
    ledger: L.LedgerPort | None = None,
) -> InvestmentPosted:
    """Post one investment: investor's wallet -> the site's investment account, balanced, once per id.

    Raises :class:`InsufficientBalance` (409, field ``amount``) when the wallet cannot pay, ``InvalidInput``
    (422) for an amount out of range or an unknown currency.
    """
    check_amount(amount, 1, INVESTMENT_MAX, "amount")
    asset = checked_currency(currency)
    store = ledger if ledger is not None else LedgerStore()
    tx = L.investment(
        investment_tx_id(investment_id),
        investor_id,
        site_id,
        amount,
        asset,
        investment_id=investment_id,
        created_at=created_at,
    )
    try:
        result = store.post(tx)
    except InsufficientFunds as exc:
        raise InsufficientBalance("amount", exc.balance, amount, asset, whose="Your") from None
    return InvestmentPosted(result.transaction, result.replayed)


def investment_posted(investment_id: str, ledger: L.LedgerPort | None = None) -> bool:
    """Whether the investment's transaction is in the ledger (the money moved)."""
    store = ledger if ledger is not None else LedgerStore()
    return store.transaction(investment_tx_id(investment_id)) is not None


def returns_of(investor_id: str, transactions: Iterable[Transaction]) -> dict[str, dict[str, int]]:
    """Site id -> currency -> what ``investor_id``'s wallets were credited as an investor by these transactions."""
    out: dict[str, dict[str, int]] = {}
    for tx in transactions:
        site_id = tx.metadata.get("site_id")
        if tx.type not in RETURN_TYPES or not isinstance(site_id, str):
            continue
        mine = [e for e in tx.entries if L.parse_account(e.account) == L.AccountRef("wallet", investor_id, e.asset)]
        if tx.type == "settlement":
            # a settlement sale's split (or its reversal, negative); its entries are netted per account, so
            # an investor who hosts the site has one entry, counted as the host's income
            credits = [] if tx.metadata.get("host_id") == investor_id else mine
        else:
            credits = [e for e in mine if e.amount > 0]
        if tx.type == "sale" and tx.metadata.get("host_id") == investor_id and credits:
            credits = credits[1:]  # the host's part comes first; the rest is paid as an investor
        for entry in credits:
            slot = out.setdefault(site_id, {})
            slot[entry.asset] = slot.get(entry.asset, 0) + entry.amount
    return out


def site_returns(
    investor_id: str, currencies: Iterable[str], ledger: L.LedgerPort | None = None
) -> dict[str, dict[str, int]]:
    """Site id -> currency -> returns received to date by ``investor_id`` (see the module docstring).

    Reads the investor's wallet chain of each currency (oldest first) and the sale and pool-payout
    transactions on it: a cost proportional to the wallet's history, acceptable for a portfolio view.
    """
    store = ledger if ledger is not None else LedgerStore()
    seen: dict[str, Transaction] = {}
    for currency in sorted(set(currencies)):
        for entry in store.entries(L.user_wallet(investor_id, currency)):
            counted = entry.amount > 0 or entry.tx_type == "settlement"  # a reversed settlement sale: negative
            if entry.tx_type in RETURN_TYPES and counted and entry.transaction_id not in seen:
                tx = store.transaction(entry.transaction_id)
                if tx is not None:
                    seen[tx.id] = tx
    return returns_of(investor_id, seen.values())
