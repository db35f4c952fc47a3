"""Withdrawals: a user's request holds the amount; an admin's decision pays it out or releases it.

Requesting moves the amount from the wallet to pending withdrawals (refused above the available
balance). An admin's decision is first *claimed* on the withdrawal item (``requested`` -> ``approving`` |
``rejecting``, conditionally), so an approval and a rejection can never both happen; then the payout is
made (approve) and the ledger transaction posted, and the item is marked ``approved`` | ``rejected``. A
decision interrupted half-way is resumed by the same decision (same payout key, same transaction id); the
other decision is refused (409). If Stripe refuses the payout the claim is undone and the withdrawal stays
``requested``.
"""

from __future__ import annotations

import logging
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from gridshare.http.idempotency import RequestIds
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import to_iso
from gridshare.kernel.tables import failed_condition
from gridshare.ledger import core as L
from gridshare.ledger.core import InsufficientFunds, Transaction
from gridshare.wallets.models import WithdrawalModel, save_new
from gridshare.wallets.movements import (
    WITHDRAWAL_MAX,
    InsufficientBalance,
    WalletUseCases,
    check_amount,
    checked_currency,
    withdrawal_tx_id,
)
from gridshare.wallets.stripe_gateway import PaymentProviderUnavailable

__all__ = ["PENDING_STATUSES", "WithdrawalAlreadyDecided", "Withdrawals", "pending_withdrawals", "withdrawal_view"]

logger = logging.getLogger("gridshare.wallets")

PENDING_STATUSES = ("requested", "approving", "rejecting")
DECIDED = {"approving": "approved", "rejecting": "rejected"}


class WithdrawalAlreadyDecided(errors.Conflict):
    """An approved or rejected withdrawal (or one being decided the other way) cannot be decided again."""


def withdrawal_view(item: WithdrawalModel) -> dict[str, Any]:
    return {
        "id": item.id,
        "userId": item.user_id,
        "amount": int(item.amount),
        "currency": item.currency,
        "status": item.status,
        "transactionId": item.request_tx_id,
        "decisionTransactionId": item.decision_tx_id,
        "payoutId": item.payout_ref,
        "reason": item.reason,
        "decidedBy": item.decided_by,
        "createdAt": to_iso(int(item.created_at)),
        "decidedAt": to_iso(int(item.decided_at)) if item.decided_at is not None else None,
    }


def pending_withdrawals(user_id: str | None = None) -> list[WithdrawalModel]:
    """Withdrawals not yet paid out or released (requested or being decided): a user's, or everyone's."""
    condition = (WithdrawalModel.user_id == user_id) if user_id is not None else None
    return [
        item
        for status in PENDING_STATUSES
        for item in WithdrawalModel.by_status.query(status, filter_condition=condition)
    ]


class Withdrawals(WalletUseCases):
    def request(self, user_id: str, amount: int, currency: str | None, ids: RequestIds) -> dict[str, Any]:
        currency = checked_currency(currency)
        check_amount(amount, 1, WITHDRAWAL_MAX, "amount")
        withdrawal_id = ids.new("withdrawal")
        now = self.clock()
        tx = L.withdrawal_request(withdrawal_tx_id(withdrawal_id), user_id, amount, currency, created_at=now)
        try:
            self.ledger.post(tx)
        except InsufficientFunds as exc:
            raise InsufficientBalance("amount", exc.balance, amount, currency, whose="Your") from None
        item = WithdrawalModel(
            id=withdrawal_id,
            user_id=user_id,
            amount=amount,
            currency=currency,
            status="requested",
            request_tx_id=tx.id,
            created_at=now,
        )
        item, _ = save_new(item, "The withdrawal could not be recorded; retry with the same key.")
        return withdrawal_view(item)

    def list_by_status(self, status: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        result = WithdrawalModel.by_status.query(
            status, limit=limit, last_evaluated_key=decode_cursor(cursor), scan_index_forward=False
        )
        items = [withdrawal_view(w) for w in result]
        return items, encode_cursor(result.last_evaluated_key)

    def approve(self, admin_id: str, withdrawal_id: str) -> dict[str, Any]:
        """Pay out through Stripe (idempotency key = the withdrawal id), then settle the pending account."""
        item = self._claim(withdrawal_id, "approving", admin_id)
        request = self._request_tx(item)
        try:
            payout = self.gateway.payout(
                int(item.amount),
                item.currency,
                {"withdrawal_id": item.id, "user_id": item.user_id},
                idempotency_key=item.id,
            )
        except PaymentProviderUnavailable:
            raise  # outcome unknown: stays "approving"; approving again resumes with the same key
        except errors.GridshareError:
            self._unclaim(item, "approving")
            raise
        tx = L.withdrawal_approve(
            withdrawal_tx_id(item.id, "approve"), request, payout_ref=payout.id, created_at=self.clock()
        )
        self.ledger.post(tx)
        return self._decided(item, tx, payout_ref=payout.id)

    def reject(self, admin_id: str, withdrawal_id: str, reason: str | None) -> dict[str, Any]:
        """Release the pending amount back to the user's wallet."""
        item = self._claim(withdrawal_id, "rejecting", admin_id, reason)
        request = self._request_tx(item)
        tx = L.withdrawal_reject(
            withdrawal_tx_id(item.id, "reject"), request, reason=item.reason, created_at=self.clock()
        )
        self.ledger.post(tx)
        return self._decided(item, tx)

    def _claim(self, withdrawal_id: str, target: str, admin_id: str, reason: str | None = None) -> WithdrawalModel:
        for _ in range(3):
            item = _withdrawal(withdrawal_id)
            if item.status == target:
                return item  # a decision interrupted half-way: resume it
            if item.status != "requested":
                raise WithdrawalAlreadyDecided(f"The withdrawal is {item.status}; it cannot be decided again.")
            actions = [
                WithdrawalModel.status.set(target),
                WithdrawalModel.decided_by.set(admin_id),
                WithdrawalModel.decided_at.set(self.clock()),
            ]
            if reason:
                actions.append(WithdrawalModel.reason.set(reason))
            try:
                item.update(actions=actions, condition=WithdrawalModel.status == "requested")
                return item
            except UpdateError as exc:
                if not failed_condition(exc):
                    raise
        raise errors.Conflict("The withdrawal is being decided by someone else; reload it.")

    def _unclaim(self, item: WithdrawalModel, claimed: str) -> None:
        item.update(
            actions=[
                WithdrawalModel.status.set("requested"),
                WithdrawalModel.decided_by.remove(),
                WithdrawalModel.decided_at.remove(),
            ],
            condition=WithdrawalModel.status == claimed,
        )

    def _decided(self, item: WithdrawalModel, tx: Transaction, *, payout_ref: str | None = None) -> dict[str, Any]:
        actions = [WithdrawalModel.status.set(DECIDED[item.status]), WithdrawalModel.decision_tx_id.set(tx.id)]
        if payout_ref:
            actions.append(WithdrawalModel.payout_ref.set(payout_ref))
        item.update(actions=actions)
        return withdrawal_view(item)

    def _request_tx(self, item: WithdrawalModel) -> Transaction:
        request = self.ledger.transaction(item.request_tx_id)
        if request is None:
            logger.error("withdrawal %s: request transaction %s is missing", item.id, item.request_tx_id)
            raise errors.Conflict("The withdrawal's ledger transaction is missing; it cannot be decided.")
        return request


def _withdrawal(withdrawal_id: str) -> WithdrawalModel:
    try:
        return WithdrawalModel.get(withdrawal_id, consistent_read=True)
    except DoesNotExist:
        raise errors.NotFound("No such withdrawal.") from None
