"""Top-ups: a PaymentIntent per top-up, credited only by Stripe's signed webhook.

A payment item (pending) and a PaymentIntent are created; the credit is posted only by the
``payment_intent.succeeded`` webhook, under ``topup:<paymentId>``: a redelivered event, or another event
for the same intent, finds the transaction already posted. A failure or cancellation is recorded on the
payment unless it already succeeded (events arrive in any order; success is final because the money
was received). An event for an unknown intent is recorded and answered 200 so Stripe stops retrying;
support reconciles it.

A webhook delivery is verified (Stripe-Signature over the raw body against every current secret, which
are re-read, rate-limited, when none matches: a secret may have rolled) before anything is read from it,
and deduplicated by event id: a delivery whose event already has an outcome answers that outcome
(``duplicate: true``), except an ``unknown_payment`` outcome, which is applied again (the payment may
have been recorded since).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from gridshare.http.idempotency import RequestIds
from gridshare.kernel import errors
from gridshare.kernel.clock import to_iso
from gridshare.kernel.settings import get_settings
from gridshare.kernel.tables import failed_condition
from gridshare.ledger import core as L
from gridshare.wallets.models import PaymentModel, StripeEventModel, save_new
from gridshare.wallets.movements import (
    TOPUP_MAX,
    TOPUP_MIN,
    WalletUseCases,
    check_amount,
    checked_currency,
    topup_tx_id,
)
from gridshare.wallets.stripe_signature import (
    NoMatchingSignature,
    SignatureVerificationError,
    parse_signature_header,
    verify_signature,
)

__all__ = ["Topups", "payment_view"]

logger = logging.getLogger("gridshare.wallets")

MAX_WEBHOOK_BYTES = 512 * 1024
EVENT_OUTCOMES_TO_RETRY = frozenset({"unknown_payment"})


def payment_view(payment: PaymentModel) -> dict[str, Any]:
    return {
        "id": payment.id,
        "paymentIntentId": payment.payment_intent_id,
        "amount": int(payment.amount),
        "currency": payment.currency,
        "status": payment.status,
        "refundedAmount": int(payment.refunded_amount or 0),
        "transactionId": payment.ledger_tx_id,
        "createdAt": to_iso(int(payment.created_at)),
    }


class Topups(WalletUseCases):
    def create(self, user_id: str, amount: int, currency: str | None, ids: RequestIds) -> dict[str, Any]:
        """A pending payment and its PaymentIntent; the client confirms it with the returned client secret."""
        currency = checked_currency(currency)
        check_amount(amount, TOPUP_MIN, TOPUP_MAX, "amount")
        payment_id = ids.new("payment")
        intent = self.gateway.create_payment_intent(
            amount, currency, {"payment_id": payment_id, "user_id": user_id}, f"topup-{payment_id}"
        )
        now = self.clock()
        payment = PaymentModel(
            id=payment_id,
            user_id=user_id,
            amount=amount,
            currency=currency,
            payment_intent_id=intent.id,
            status="pending",
            refunded_amount=0,
            created_at=now,
            updated_at=now,
        )
        payment, _ = save_new(payment, "The top-up could not be recorded; retry with the same key.")
        return {**payment_view(payment), "clientSecret": intent.client_secret}

    # ------------------------------------------------------------------ Stripe webhooks
    def handle_stripe_webhook(self, raw_body: bytes, signature: str | None) -> dict[str, Any]:
        """Verify, deduplicate and apply one webhook delivery; see the module docstring for each event."""
        if len(raw_body) > MAX_WEBHOOK_BYTES:
            raise errors.PayloadTooLarge("The webhook body is too large.")
        try:
            self._verify_signature(raw_body, signature)
        except SignatureVerificationError as exc:
            logger.warning("Stripe webhook refused: %s", exc.check)
            raise
        event = _parse_event(raw_body)
        event_id, event_type = event["id"], event["type"]
        record, first = save_new(
            StripeEventModel(id=event_id, type=event_type, received_at=self.clock()),
            "The event could not be recorded; Stripe will retry.",
        )
        if not first and record.outcome is not None and record.outcome not in EVENT_OUTCOMES_TO_RETRY:
            return {"eventId": event_id, "type": event_type, "outcome": record.outcome, "duplicate": True}
        outcome = self._apply_event(event)
        record.update(actions=[StripeEventModel.outcome.set(outcome)])
        return {"eventId": event_id, "type": event_type, "outcome": outcome, "duplicate": False}

    def _verify_signature(self, raw_body: bytes, signature: str | None) -> None:
        parse_signature_header(signature)  # a missing or malformed header is refused before any secret is read
        settings = get_settings()
        gateway = self.gateway
        now_s = self.clock() / 1000
        try:
            verify_signature(
                raw_body, signature, gateway.webhook_secrets(), now_s=now_s, tolerance_s=settings.webhook_tolerance_s
            )
        except NoMatchingSignature:
            # A secret rolled since this container read it? Re-read (rate-limited) and try once more.
            if not gateway.refresh_webhook_secrets():
                raise
            verify_signature(
                raw_body, signature, gateway.webhook_secrets(), now_s=now_s, tolerance_s=settings.webhook_tolerance_s
            )

    def _apply_event(self, event: dict[str, Any]) -> str:
        event_type = event["type"]
        intent = (event.get("data") or {}).get("object") or {}
        if event_type not in ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"):
            return "ignored"
        if not isinstance(intent, dict) or not isinstance(intent.get("id"), str):
            raise errors.BadRequest("The event carries no PaymentIntent.")
        payment = _payment_of_intent(intent)
        if payment is None:
            logger.warning("%s for unknown PaymentIntent %s (event %s)", event_type, intent["id"], event["id"])
            return "unknown_payment"
        if event_type == "payment_intent.succeeded":
            return self._credit_topup(payment, intent)
        status = "failed" if event_type == "payment_intent.payment_failed" else "canceled"
        reason = (intent.get("last_payment_error") or {}).get("message") if status == "failed" else None
        reason = reason or intent.get("cancellation_reason")
        actions = [PaymentModel.status.set(status), PaymentModel.updated_at.set(self.clock())]
        if reason:
            actions.append(PaymentModel.failure_reason.set(str(reason)[:500]))
        try:
            payment.update(actions=actions, condition=PaymentModel.status != "succeeded")
        except UpdateError as exc:
            if not failed_condition(exc):
                raise
            return "ignored_after_success"  # a late failure of an attempt before the one that succeeded
        return f"recorded_{status}"

    def _credit_topup(self, payment: PaymentModel, intent: dict[str, Any]) -> str:
        received = intent.get("amount_received", intent.get("amount"))
        currency = str(intent.get("currency") or "").upper()
        if received != int(payment.amount) or currency != payment.currency:
            logger.error(
                "PaymentIntent %s received %s %s, payment %s expects %s %s: not credited",
                intent["id"],
                received,
                currency,
                payment.id,
                payment.amount,
                payment.currency,
            )
            return "amount_mismatch"
        tx = L.topup(
            topup_tx_id(payment.id),
            payment.user_id,
            int(payment.amount),
            payment.currency,
            payment_ref=intent["id"],
            created_at=self.clock(),
        )
        result = self.ledger.post(tx)
        payment.update(
            actions=[
                PaymentModel.status.set("succeeded"),
                PaymentModel.ledger_tx_id.set(tx.id),
                PaymentModel.updated_at.set(self.clock()),
            ]
        )
        return "already_credited" if result.replayed else "credited"


def _payment_of_intent(intent: dict[str, Any]) -> PaymentModel | None:
    """By our payment id in the intent's metadata (a consistent read), else through the by_intent index."""
    payment_id = (intent.get("metadata") or {}).get("payment_id")
    if isinstance(payment_id, str) and payment_id:
        try:
            payment = PaymentModel.get(payment_id, consistent_read=True)
            if payment.payment_intent_id == intent["id"]:
                return payment
        except DoesNotExist:
            pass
    return next(iter(PaymentModel.by_intent.query(intent["id"], limit=1)), None)


def _parse_event(raw_body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise errors.BadRequest("The webhook body is not JSON.") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise errors.BadRequest("The webhook body is not a Stripe event.")
    if not event["id"] or len(event["id"]) > 255:
        raise errors.BadRequest("The webhook body is not a Stripe event.")
    return event
