"""Sales: energy sold by a host to a buyer, paid as ONE balanced ledger transaction.

The buyer pays ``gross``: the host gets 45 %, the site's investors 35 % pro rata to their shares, the
platform 20 %, exact to the minor unit (largest remainder, :mod:`gridshare.ledger.revenue_split`); kWh
credits, if any, move host -> buyer in the same transaction. A site without investors refuses the sale, or
pays their part to the host or holds it in the site's pool (``no_investors``). The transaction id is
``sale:<saleId>``, so a sale posted again with the same id (a retried settlement run, a replayed admin
request) posts nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridshare.kernel import errors
from gridshare.kernel.clock import to_iso
from gridshare.ledger import core as L
from gridshare.ledger.core import KWH, InsufficientFunds, Transaction
from gridshare.ledger.revenue_split import NoInvestors, SplitResult, Weight, split_sale
from gridshare.ledger.store import LedgerStore
from gridshare.wallets.movements import (
    SALE_MAX,
    InsufficientBalance,
    WalletUseCases,
    check_amount,
    checked_currency,
    sale_tx_id,
)

__all__ = ["SaleRecorded", "Sales", "record_sale"]


@dataclass(frozen=True)
class SaleRecorded:
    """A posted sale: its transaction, the split it paid, and whether this call only replayed it."""

    sale_id: str
    transaction: Transaction
    split: SplitResult
    replayed: bool

    def view(self) -> dict[str, Any]:
        meta = self.transaction.metadata
        credits = [e for e in self.transaction.entries if e.asset == KWH and e.amount > 0]
        currency = next(e.asset for e in self.transaction.entries if e.asset != KWH)
        return {
            "id": self.sale_id,
            "transactionId": self.transaction.id,
            "buyerId": meta.get("buyer_id"),
            "hostId": meta.get("host_id"),
            "siteId": meta.get("site_id"),
            "gross": self.split.total,
            "currency": currency,
            "split": {
                "host": self.split.host,
                "investors": dict(sorted(self.split.investors.items())),
                "pool": self.split.pool,
                "platform": self.split.platform,
            },
            "energyWh": credits[0].amount if credits else None,
            "createdAt": to_iso(self.transaction.created_at),
        }


def record_sale(
    sale_id: str,
    *,
    buyer_id: str,
    host_id: str,
    site_id: str,
    gross: int,
    currency: str,
    investor_shares: Mapping[str, Weight],
    energy_wh: int | None = None,
    no_investors: NoInvestors = "refuse",
    reference: str | None = None,
    ledger: L.LedgerPort | None = None,
) -> SaleRecorded:
    """Post one sale as ONE balanced transaction: the buyer pays ``gross``; host 45 %, the site's investors
    35 % pro rata to ``investor_shares``, platform 20 %, exact to the minor unit (largest remainder).

    The service the settlement context calls: pass a ``sale_id`` derived from the run and the party
    (e.g. ``<runId>.<interval>.<buyer>``) and a retried run posts nothing twice. Raises
    :class:`InsufficientBalance` (409, field ``gross``) when the buyer's wallet cannot pay,
    ``InvalidTransaction`` (422) for a bad split or share table.
    """
    store = ledger if ledger is not None else LedgerStore()
    tx = L.sale_transaction(
        sale_tx_id(sale_id),
        buyer_id=buyer_id,
        host_id=host_id,
        site_id=site_id,
        gross=gross,
        currency=currency,
        investor_shares=investor_shares,
        no_investors=no_investors,
        energy_wh=energy_wh,
        reference=reference,
    )
    try:
        result = store.post(tx)
    except InsufficientFunds as exc:
        asset = exc.asset
        field_name = "energyWh" if asset == KWH else "gross"
        whose = "The host's" if asset == KWH else "The buyer's"
        raise InsufficientBalance(field_name, exc.balance, exc.needed, asset, whose=whose) from None
    split = split_sale(gross, investor_shares, no_investors=no_investors)
    return SaleRecorded(sale_id, result.transaction, split, result.replayed)


class Sales(WalletUseCases):
    def record_for_admin(
        self,
        sale_id: str,
        *,
        buyer_id: str,
        host_id: str,
        site_id: str,
        gross: int,
        currency: str | None,
        investor_shares: Mapping[str, Weight],
        energy_wh: int | None,
        no_investors: NoInvestors,
        reference: str | None,
    ) -> dict[str, Any]:
        """An admin records a sale by hand: every party must be a user; then :func:`record_sale`."""
        from gridshare.identity.service import IdentityService

        unknown = []
        for name, user_id in [("buyerId", buyer_id), ("hostId", host_id)] + [
            (f"investorShares.{i}", i) for i in sorted(investor_shares)
        ]:
            try:
                IdentityService.get_user(user_id)
            except errors.NotFound:
                unknown.append(errors.FieldError(name, "no such user"))
        if unknown:
            raise errors.InvalidInput("Every party of a sale must be a user.", errors=unknown)
        check_amount(gross, 1, SALE_MAX, "gross")
        return record_sale(
            sale_id,
            buyer_id=buyer_id,
            host_id=host_id,
            site_id=site_id,
            gross=gross,
            currency=checked_currency(currency),
            investor_shares=investor_shares,
            energy_wh=energy_wh,
            no_investors=no_investors,
            reference=reference,
            ledger=self.ledger,
        ).view()
