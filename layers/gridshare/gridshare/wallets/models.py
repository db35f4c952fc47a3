"""The wallets context's own tables: payments, withdrawals, refunds, Stripe events."""

from __future__ import annotations

from typing import TypeVar

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from gridshare.http.idempotency import IdempotencyKeyModel
from gridshare.kernel import errors
from gridshare.kernel.tables import TableMeta, failed_condition
from gridshare.ledger.models import TABLES as LEDGER_TABLES


class PaymentsByIntent(GlobalSecondaryIndex["PaymentModel"]):
    class Meta:
        index_name = "by_intent"
        projection = AllProjection()

    payment_intent_id = UnicodeAttribute(hash_key=True)


class PaymentsByUser(GlobalSecondaryIndex["PaymentModel"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class PaymentModel(Model):
    """A top-up: our id, the Stripe PaymentIntent, its status, and how much of it was refunded."""

    class Meta(TableMeta):
        logical_name = "payments"

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    payment_intent_id = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")  # pending | succeeded | failed | canceled
    refunded_amount = NumberAttribute(default=0)
    ledger_tx_id = UnicodeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_intent = PaymentsByIntent()
    by_user = PaymentsByUser()


class WithdrawalsByStatus(GlobalSecondaryIndex["WithdrawalModel"]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class WithdrawalModel(Model):
    """A withdrawal request: funds held in pending withdrawals until an admin approves or rejects."""

    class Meta(TableMeta):
        logical_name = "withdrawals"

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute(default="requested")  # requested | approved | rejected
    request_tx_id = UnicodeAttribute()
    decision_tx_id = UnicodeAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    payout_ref = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    decided_at = NumberAttribute(null=True)
    by_status = WithdrawalsByStatus()


class RefundModel(Model):
    """A refund of (part of) a top-up, reserved on its payment before anything moves.

    The reservation (``PaymentModel.refunded_amount`` raised, conditioned on its previous value) and this
    item are written in one transaction, so two concurrent refunds can never exceed the original, and a
    refund interrupted half-way is resumed from here: ``already_refunded`` rebuilds the same ledger
    transaction, the id the same Stripe idempotency key.
    """

    class Meta(TableMeta):
        logical_name = "refunds"

    id = UnicodeAttribute(hash_key=True)
    payment_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    already_refunded = NumberAttribute()  # the payment's refunded amount before this refund
    status = UnicodeAttribute(default="pending")  # pending | succeeded | failed
    ledger_tx_id = UnicodeAttribute(null=True)
    stripe_refund_id = UnicodeAttribute(null=True)
    requested_by = UnicodeAttribute()
    failure_reason = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class StripeEventModel(Model):
    """Webhook events by Stripe event id: the first delivery is processed, every later one is a no-op."""

    class Meta(TableMeta):
        logical_name = "stripe_events"

    id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    received_at = NumberAttribute()
    outcome = UnicodeAttribute(null=True)


# Wallets owns the ledger's tables (its only writer) and, for now, the Idempotency-Key records (its routes
# are the only ones that take the header). Owning is why this module names the ledger's models; wallets code
# reads and writes them only through gridshare.ledger.store.
TABLES: tuple[type[Model], ...] = (
    *LEDGER_TABLES,
    PaymentModel,
    WithdrawalModel,
    StripeEventModel,
    IdempotencyKeyModel,
    RefundModel,
)


_Item = TypeVar("_Item", PaymentModel, WithdrawalModel, StripeEventModel)


def save_new(item: _Item, unavailable: str) -> tuple[_Item, bool]:
    """Put ``item`` unless one with its id exists; returns the stored item and whether this call created it.

    A resumed or repeated run (same id) gets what the first run saved. Any other failure leaves the
    outcome unknown: :class:`errors.Unavailable` with ``unavailable`` as its detail (retry with the same id).
    """
    model = type(item)
    try:
        item.save(condition=model.id.does_not_exist())
    except PutError as exc:
        if not failed_condition(exc):
            raise errors.Unavailable(unavailable) from exc
        return model.get(item.id, consistent_read=True), False
    return item, True
