"""Refunds: (part of) a credited top-up, back to the card it came from, never more than was paid.

The amount is reserved on the payment (``refunded_amount``, conditioned on its previous value) in the
same DynamoDB transaction that creates the refund item, so concurrent refunds can never exceed the
original. Then the ledger refund is posted (wallet -> Stripe clearing; refused if the user already spent
the money) and the refund is sent to Stripe; if Stripe refuses, a reversal is posted and the reservation
released. A refund interrupted half-way is resumed from its item by a retry with the same key.
"""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from gridshare.http.idempotency import RequestIds
from gridshare.kernel import errors
from gridshare.kernel.clock import to_iso
from gridshare.kernel.settings import get_settings
from gridshare.ledger import core as L
from gridshare.ledger.core import InsufficientFunds
from gridshare.wallets.models import PaymentModel, RefundModel
from gridshare.wallets.movements import InsufficientBalance, WalletUseCases, refund_tx_id, topup_tx_id
from gridshare.wallets.stripe_gateway import PaymentProviderUnavailable

__all__ = ["Refunds", "refund_view"]


def refund_view(item: RefundModel, payment: PaymentModel) -> dict[str, Any]:
    refunded = int(payment.refunded_amount or 0)
    return {
        "id": item.id,
        "paymentId": item.payment_id,
        "originalTransactionId": payment.ledger_tx_id,
        "transactionId": item.ledger_tx_id,
        "amount": int(item.amount),
        "currency": item.currency,
        "status": item.status,
        "stripeRefundId": item.stripe_refund_id,
        "refundedTotal": refunded,
        "refundable": int(payment.amount) - refunded,
        "createdAt": to_iso(int(item.created_at)),
    }


class Refunds(WalletUseCases):
    def create(self, admin_id: str, transaction_id: str, amount: int | None, ids: RequestIds) -> dict[str, Any]:
        """Refund (part of) a credited top-up: reserve, post the ledger refund, refund through Stripe.

        ``transaction_id`` names the top-up as its payment id, its ledger transaction id
        (``topup:<paymentId>``) or its PaymentIntent id (``pi_...``).
        """
        refund_id = ids.new("refund")
        try:
            item = RefundModel.get(refund_id, consistent_read=True)  # a resumed run
            payment = PaymentModel.get(item.payment_id, consistent_read=True)
        except DoesNotExist:
            item, payment = self._reserve_refund(refund_id, admin_id, transaction_id, amount)
        if item.status == "succeeded":
            return refund_view(item, payment)
        if item.status == "failed":
            raise errors.Conflict(f"This refund failed: {item.failure_reason}")
        original = self.ledger.transaction(topup_tx_id(payment.id))
        if original is None:
            raise errors.Conflict("The top-up's ledger transaction is missing; it cannot be refunded.")
        tx = L.refund(
            refund_tx_id(refund_id),
            original,
            int(item.already_refunded),
            int(item.amount),
            refund_ref=refund_id,
            created_at=self.clock(),
        )
        try:
            self.ledger.post(tx)
        except InsufficientFunds as exc:
            self._release_refund(item, payment, "the wallet no longer holds the amount")
            raise InsufficientBalance(
                "amount", exc.balance, int(item.amount), item.currency, whose="The user's"
            ) from None
        try:
            refund = self.gateway.refund(
                payment.payment_intent_id,
                int(item.amount),
                f"refund-{refund_id}",
                {"refund_id": refund_id, "payment_id": payment.id},
            )
        except PaymentProviderUnavailable:
            raise  # outcome unknown: the refund stays pending and a retry with the same key resumes it
        except errors.GridshareError as exc:
            self.ledger.post(L.reversal(f"{tx.id}:reversal", tx, reason="Stripe refused the refund"))
            self._release_refund(item, payment, exc.detail)
            raise
        item.update(
            actions=[
                RefundModel.status.set("succeeded"),
                RefundModel.ledger_tx_id.set(tx.id),
                RefundModel.stripe_refund_id.set(refund.id),
                RefundModel.updated_at.set(self.clock()),
            ]
        )
        payment.refresh(consistent_read=True)
        return refund_view(item, payment)

    def _reserve_refund(
        self, refund_id: str, admin_id: str, transaction_id: str, amount: int | None
    ) -> tuple[RefundModel, PaymentModel]:
        for _ in range(5):
            payment = _payment_for_refund(transaction_id)
            if payment.status != "succeeded" or not payment.ledger_tx_id:
                raise errors.Conflict(
                    f"The top-up is {payment.status}; only a credited top-up can be refunded.",
                    errors=[errors.FieldError("transactionId", f"top-up is {payment.status}")],
                )
            already = int(payment.refunded_amount or 0)
            remaining = int(payment.amount) - already
            wanted = remaining if amount is None else amount
            if remaining <= 0:
                raise L.RefundExceedsOriginal("The top-up is already fully refunded.", field="amount")
            if wanted > remaining:
                raise L.RefundExceedsOriginal(
                    f"A refund of {wanted} exceeds the {remaining} {payment.currency} still refundable.", field="amount"
                )
            now = self.clock()
            item = RefundModel(
                id=refund_id,
                payment_id=payment.id,
                user_id=payment.user_id,
                amount=wanted,
                currency=payment.currency,
                already_refunded=already,
                status="pending",
                requested_by=admin_id,
                created_at=now,
                updated_at=now,
            )
            try:
                with TransactWrite(connection=_connection()) as write:
                    write.update(
                        payment,
                        actions=[
                            PaymentModel.refunded_amount.set(already + wanted),
                            PaymentModel.updated_at.set(now),
                        ],
                        condition=(PaymentModel.refunded_amount == already) & (PaymentModel.status == "succeeded"),
                    )
                    write.save(item, condition=RefundModel.id.does_not_exist())
            except TransactWriteError as exc:
                if exc.cause_response_code != "TransactionCanceledException":
                    raise errors.Unavailable("The refund could not be reserved; retry with the same key.") from exc
                try:  # a concurrent run of the same refund reserved it
                    return RefundModel.get(refund_id, consistent_read=True), _payment(payment.id)
                except DoesNotExist:
                    continue  # another refund of the same top-up moved refunded_amount: re-read
            payment.refunded_amount = already + wanted
            return item, payment
        raise errors.Conflict("The top-up is being refunded concurrently; retry.")

    def _release_refund(self, item: RefundModel, payment: PaymentModel, reason: str) -> None:
        try:
            with TransactWrite(connection=_connection()) as write:
                write.update(
                    payment,
                    actions=[
                        PaymentModel.refunded_amount.add(-int(item.amount)),
                        PaymentModel.updated_at.set(self.clock()),
                    ],
                )
                write.update(
                    item,
                    actions=[
                        RefundModel.status.set("failed"),
                        RefundModel.failure_reason.set(reason[:500]),
                        RefundModel.updated_at.set(self.clock()),
                    ],
                    condition=RefundModel.status == "pending",
                )
        except TransactWriteError as exc:
            if exc.cause_response_code != "TransactionCanceledException":
                raise errors.Unavailable("The refund could not be released; retry with the same key.") from exc
            # already released by a concurrent run


def _connection() -> Connection:
    return Connection(region=get_settings().region)


def _payment(payment_id: str) -> PaymentModel:
    try:
        return PaymentModel.get(payment_id, consistent_read=True)
    except DoesNotExist:
        raise errors.NotFound("No such top-up.") from None


def _payment_for_refund(transaction_id: str) -> PaymentModel:
    if transaction_id.startswith("pi_"):
        found = next(iter(PaymentModel.by_intent.query(transaction_id, limit=1)), None)
        if found is None:
            raise errors.NotFound("No top-up with this PaymentIntent.")
        return _payment(found.id)
    payment_id = transaction_id.removeprefix("topup:")
    return _payment(payment_id)
