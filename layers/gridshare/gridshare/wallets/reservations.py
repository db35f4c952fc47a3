"""Reservations: money a market BID holds back in the buyer's market escrow until it is settled or released.

Placing a BID moves its worst-case cost from the buyer's wallet to their escrow account
(``user:<id>:escrow:<CUR>``), refused above the wallet's available balance (409, naming the order field
that asked too much), as a withdrawal request is. Cancelling the order, or clearing leaving part of it
unfilled, moves that part back. What clearing filled stays in escrow: the settlement context pays the
seller and the grid from it after delivery is metered.

Every movement is one ledger transaction whose id is derived from the order (``reservation:<orderId>``,
``reservation:<orderId>:<reason>`` for a release), so a retried placement, cancellation or clearing run
posts nothing twice; an order is released at most once per reason, and the market context's order state
machine makes "cancelled" and "unfilled" exclusive.
"""

from __future__ import annotations

from gridshare.ledger import core as L
from gridshare.ledger.core import InsufficientFunds
from gridshare.wallets.movements import InsufficientBalance, WalletUseCases, checked_currency

__all__ = ["RELEASE_REASONS", "Reservations", "reservation_tx_id"]

RELEASE_REASONS = ("cancelled", "unfilled")


def reservation_tx_id(order_id: str, release: str | None = None) -> str:
    return f"reservation:{order_id}" + (f":{release}" if release else "")


class Reservations(WalletUseCases):
    def reserve(self, order_id: str, user_id: str, amount: int, currency: str, *, field_name: str) -> str:
        """Hold ``amount`` of the user's wallet for the order; the transaction id. Refused (409, naming
        ``field_name``) above the available balance; a repeat for the same order posts nothing."""
        tx = L.reservation(
            reservation_tx_id(order_id),
            user_id,
            amount,
            checked_currency(currency),
            order_id=order_id,
            created_at=self.clock(),
        )
        try:
            self.ledger.post(tx)
        except InsufficientFunds as exc:
            raise InsufficientBalance(field_name, exc.balance, amount, tx.entries[0].asset, whose="Your") from None
        return tx.id

    def release(self, order_id: str, user_id: str, amount: int, currency: str, *, reason: str) -> str | None:
        """Give ``amount`` of the order's reservation back to the wallet (nothing when ``amount`` is 0); the
        transaction id. A repeat with the same order and reason posts nothing."""
        if reason not in RELEASE_REASONS:
            raise ValueError(f"unknown release reason {reason!r}")
        if amount <= 0:
            return None
        tx = L.reservation_release(
            reservation_tx_id(order_id, reason),
            user_id,
            amount,
            currency,
            order_id=order_id,
            reason=reason,
            created_at=self.clock(),
        )
        self.ledger.post(tx)
        return tx.id

    def held(self, user_id: str, currency: str) -> int:
        """What the user's market escrow holds now (open and filled-but-unsettled BIDs)."""
        return self.ledger.balance(L.market_escrow(user_id, currency))
