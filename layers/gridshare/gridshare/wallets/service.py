"""Wallets: balances, top-ups through Stripe, signed webhooks, withdrawals, refunds, sales, statements.

Every money movement is one ledger transaction whose id is derived from what it records, so each step can
be repeated without a second effect:

| movement | ledger transaction id | Stripe idempotency key |
|---|---|---|
| top-up credit (webhook) | ``topup:<paymentId>`` | ``topup-<paymentId>`` (the PaymentIntent) |
| withdrawal request | ``withdrawal:<withdrawalId>`` | |
| withdrawal approval / rejection | ``withdrawal:<id>:approve`` / ``:reject`` | ``<withdrawalId>`` (the payout) |
| refund (+ reversal if Stripe refuses) | ``refund:<refundId>`` (``:reversal``) | ``refund-<refundId>`` |
| sale | ``sale:<saleId>`` | |

The ids (payment, withdrawal, refund, sale) are fresh ULIDs, or, when the client sent an
``Idempotency-Key``, derived from it (:mod:`gridshare.http.idempotency`), so a retried request
recreates the same ids and every write above is a no-op the second time.

**Top-ups.** A payment item (pending) and a PaymentIntent are created; the credit is posted only by the
``payment_intent.succeeded`` webhook, under ``topup:<paymentId>``: a redelivered event, or another event
for the same intent, finds the transaction already posted. A failure or cancellation is recorded on the
payment unless it already succeeded (events arrive in any order; success is final because the money
was received). An event for an unknown intent is recorded and answered 200 so Stripe stops retrying;
support reconciles it.

**Withdrawals.** Requesting moves the amount from the wallet to pending withdrawals (refused above the
available balance). An admin's decision is first *claimed* on the withdrawal item (``requested`` ->
``approving`` | ``rejecting``, conditionally), so an approval and a rejection can never both happen;
then the payout is made (approve) and the ledger transaction posted, and the item is marked
``approved`` | ``rejected``. A decision interrupted half-way is resumed by the same decision (same
payout key, same transaction id); the other decision is refused (409). If Stripe refuses the payout the
claim is undone and the withdrawal stays ``requested``.

**Refunds.** The amount is reserved on the payment (``refunded_amount``, conditioned on its previous
value) in the same DynamoDB transaction that creates the refund item, so concurrent refunds can never
exceed the original. Then the ledger refund is posted (wallet -> Stripe clearing; refused if the user
already spent the money) and the refund is sent to Stripe; if Stripe refuses, a reversal is posted and
the reservation released.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from gridshare.http.idempotency import RequestIds
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.settings import get_settings
from gridshare.ledger import core as L
from gridshare.ledger.core import (
    CURRENCIES,
    KWH,
    ChainedEntry,
    ChainProblem,
    InsufficientFunds,
    Transaction,
)
from gridshare.ledger.history import HistoryPage, RecentEntries
from gridshare.ledger.revenue_split import NoInvestors, SplitResult, Weight, split_sale
from gridshare.ledger.store import LedgerStore
from gridshare.wallets.models import PaymentModel, RefundModel, StripeEventModel, WithdrawalModel
from gridshare.wallets.stripe_gateway import (
    PaymentGateway,
    PaymentProviderUnavailable,
    stripe_gateway,
)
from gridshare.wallets.stripe_signature import (
    NoMatchingSignature,
    SignatureVerificationError,
    parse_signature_header,
    verify_signature,
)

__all__ = [
    "TOPUP_MAX",
    "TOPUP_MIN",
    "WITHDRAWAL_MAX",
    "InsufficientBalance",
    "SaleRecorded",
    "WalletService",
    "record_sale",
    "refund_tx_id",
    "sale_tx_id",
    "topup_tx_id",
    "withdrawal_tx_id",
]

logger = logging.getLogger("gridshare.wallets")

TOPUP_MIN = 100
"""Smallest top-up in minor units (1.00 EUR): below it card fees exceed the amount."""
TOPUP_MAX = 1_000_000
"""Largest top-up in minor units (10,000 EUR): above it, a top-up is a bank transfer, not a card payment."""
WITHDRAWAL_MAX = 100_000_000
SALE_MAX = 1_000_000_000
MAX_WEBHOOK_BYTES = 512 * 1024
PENDING_STATUSES = ("requested", "approving", "rejecting")
DECIDED = {"approving": "approved", "rejecting": "rejected"}
EVENT_OUTCOMES_TO_RETRY = frozenset({"unknown_payment"})


# ---------------------------------------------------------------------------------------------- ids
def topup_tx_id(payment_id: str) -> str:
    return f"topup:{payment_id}"


def withdrawal_tx_id(withdrawal_id: str, decision: str | None = None) -> str:
    return f"withdrawal:{withdrawal_id}" + (f":{decision}" if decision else "")


def refund_tx_id(refund_id: str) -> str:
    return f"refund:{refund_id}"


def sale_tx_id(sale_id: str) -> str:
    return f"sale:{sale_id}"


# ------------------------------------------------------------------------------------------- errors
class InsufficientBalance(errors.Conflict):
    """Not enough available balance for the request (409), naming the request field that asked too much."""

    def __init__(self, field_name: str, available: int, requested: int, asset: str, *, whose: str = "The") -> None:
        detail = f"{whose} available balance is {available} {asset}; {requested} {asset} requested."
        super().__init__(detail, errors=[errors.FieldError(field_name, "insufficient funds")])
        self.available = available
        self.requested = requested


class WithdrawalAlreadyDecided(errors.Conflict):
    """An approved or rejected withdrawal (or one being decided the other way) cannot be decided again."""


# ---------------------------------------------------------------------------------------------- views
def _money(asset: str) -> dict[str, Any]:
    if asset == KWH:
        return {"asset": asset, "currency": None, "unit": "Wh"}
    return {"asset": asset, "currency": asset, "minorUnits": CURRENCIES[asset]}


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


# -------------------------------------------------------------------------------------------- sales
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


# -------------------------------------------------------------------------------------- the service
class WalletLedger(L.LedgerPort, Protocol):
    """What the wallets need from the ledger: posting, and the paged reads of :class:`LedgerStore`."""

    def balances(self) -> dict[tuple[str, str], int]: ...

    def balances_of(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]: ...

    def history(
        self,
        below: Mapping[str, int | None],
        *,
        limit: int,
        tx_type: str | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> HistoryPage: ...

    def entries_since(self, account: str, since: int) -> RecentEntries: ...

    def transactions(self, start: int | None = None, end: int | None = None) -> Iterable[Transaction]: ...


@dataclass
class WalletService:
    ledger: WalletLedger = field(default_factory=LedgerStore)
    gateway_factory: Callable[[], PaymentGateway] = stripe_gateway
    clock: Callable[[], int] = now_ms

    @property
    def gateway(self) -> PaymentGateway:
        return self.gateway_factory()

    # ------------------------------------------------------------------ balances and history
    def wallet(self, user_id: str) -> dict[str, Any]:
        """Balances per asset: ``available`` (the wallet or credits balance), ``pending`` (requested
        withdrawals not yet paid out or released) and their ``total``."""
        held = self._user_balances(user_id)
        pending = self._pending_withdrawals(user_id)
        default = get_settings().default_currency
        assets = set(held) | set(pending) | {default}
        balances = []
        for asset in sorted(assets, key=lambda a: (a != default, a == KWH, a)):
            available, waiting = held.get(asset, 0), pending.get(asset, 0)
            balances.append({**_money(asset), "available": available, "pending": waiting, "total": available + waiting})
        return {"defaultCurrency": default, "balances": balances}

    def transactions(
        self,
        user_id: str,
        *,
        asset: str | None,
        tx_type: str | None,
        start: int | None,
        end: int | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The caller's entries, newest first, merged over their accounts (or one asset's).

        The cursor holds, per account still to read, the sequence number to continue below; it is
        signed, and checked to name only the caller's own accounts.
        """
        accounts = [_user_account(user_id, a) for a in ([asset] if asset else self._user_assets(user_id))]
        bounds: dict[str, int | None] = {a: None for a in accounts}
        decoded = decode_cursor(cursor)
        if decoded is not None:
            bounds = self._cursor_bounds(decoded, user_id, accounts)
        page = self.ledger.history(bounds, limit=limit, tx_type=tx_type, start=start, end=end)
        items = [_entry_view(e) for e in page.entries]
        return items, encode_cursor({"b": page.below}) if page.below else None

    def statement(self, user_id: str, day: date) -> dict[str, Any]:
        """The caller's statement for one UTC day, per asset: opening, credits, debits, closing, lines.

        ``opening`` is the sum of every entry stamped before the day, ``closing`` = opening + credits -
        debits; read newest first from the account's head and stopped a little before the day.
        """
        start, end = day_bounds(day)
        statements = []
        for asset in self._user_assets(user_id):
            recent = self.ledger.entries_since(_user_account(user_id, asset), start)
            opening = recent.balance - sum(e.amount for e in recent.entries)
            lines = [e for e in reversed(recent.entries) if e.created_at < end]
            credits = sum(e.amount for e in lines if e.amount > 0)
            debits = -sum(e.amount for e in lines if e.amount < 0)
            statements.append(
                {
                    **_money(asset),
                    "opening": opening,
                    "credits": credits,
                    "debits": debits,
                    "closing": opening + credits - debits,
                    "lines": [_entry_view(e) for e in lines],
                }
            )
        return {"date": day.isoformat(), "statements": statements}

    # ------------------------------------------------------------------ top-ups
    def create_topup(self, user_id: str, amount: int, currency: str | None, ids: RequestIds) -> dict[str, Any]:
        """A pending payment and its PaymentIntent; the client confirms it with the returned client secret."""
        currency = _currency(currency)
        _within(amount, TOPUP_MIN, TOPUP_MAX, "amount")
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
        try:
            payment.save(condition=PaymentModel.id.does_not_exist())
        except PutError as exc:
            if not _failed_condition(exc):
                raise errors.Unavailable("The top-up could not be recorded; retry with the same key.") from exc
            payment = PaymentModel.get(payment_id, consistent_read=True)  # a resumed run had saved it
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
        record = StripeEventModel(id=event_id, type=event_type, received_at=self.clock())
        try:
            record.save(condition=StripeEventModel.id.does_not_exist())
        except PutError as exc:
            if not _failed_condition(exc):
                raise errors.Unavailable("The event could not be recorded; Stripe will retry.") from exc
            record = StripeEventModel.get(event_id, consistent_read=True)
            if record.outcome is not None and record.outcome not in EVENT_OUTCOMES_TO_RETRY:
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
        payment = self._payment_of_intent(intent)
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
            if not _failed_condition(exc):
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

    @staticmethod
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

    # ------------------------------------------------------------------ withdrawals
    def request_withdrawal(self, user_id: str, amount: int, currency: str | None, ids: RequestIds) -> dict[str, Any]:
        currency = _currency(currency)
        _within(amount, 1, WITHDRAWAL_MAX, "amount")
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
        try:
            item.save(condition=WithdrawalModel.id.does_not_exist())
        except PutError as exc:
            if not _failed_condition(exc):
                raise errors.Unavailable("The withdrawal could not be recorded; retry with the same key.") from exc
            item = WithdrawalModel.get(withdrawal_id, consistent_read=True)
        return withdrawal_view(item)

    def list_withdrawals(self, status: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        result = WithdrawalModel.by_status.query(
            status, limit=limit, last_evaluated_key=decode_cursor(cursor), scan_index_forward=False
        )
        items = [withdrawal_view(w) for w in result]
        return items, encode_cursor(result.last_evaluated_key)

    def approve_withdrawal(self, admin_id: str, withdrawal_id: str) -> dict[str, Any]:
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

    def reject_withdrawal(self, admin_id: str, withdrawal_id: str, reason: str | None) -> dict[str, Any]:
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
                if not _failed_condition(exc):
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

    # ------------------------------------------------------------------ refunds
    def refund_topup(self, admin_id: str, transaction_id: str, amount: int | None, ids: RequestIds) -> dict[str, Any]:
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

    # ------------------------------------------------------------------ sales
    def record_sale_for_admin(
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
        _within(gross, 1, SALE_MAX, "gross")
        return record_sale(
            sale_id,
            buyer_id=buyer_id,
            host_id=host_id,
            site_id=site_id,
            gross=gross,
            currency=_currency(currency),
            investor_shares=investor_shares,
            energy_wh=energy_wh,
            no_investors=no_investors,
            reference=reference,
            ledger=self.ledger,
        ).view()

    # ------------------------------------------------------------------ admin
    def metrics(self, start: int | None, end: int | None) -> dict[str, Any]:
        """Volumes per type and asset (sum of a transaction's credits: what it moved), fees earned (net
        credits to platform revenue), within [start, end) when given; balances held by users and pending
        withdrawals as they stand now. Full scans: an admin report, not a request path."""
        volumes: dict[str, dict[str, dict[str, int]]] = {}
        fees: dict[str, int] = {}
        count = 0
        for tx in self.ledger.transactions(start, end):
            count += 1
            moved: dict[str, int] = {}
            for entry in tx.entries:
                if entry.amount > 0:
                    moved[entry.asset] = moved.get(entry.asset, 0) + entry.amount
                if entry.account.startswith("platform:revenue:"):
                    fees[entry.asset] = fees.get(entry.asset, 0) + entry.amount
            for asset, amount in moved.items():
                slot = volumes.setdefault(tx.type, {}).setdefault(asset, {"count": 0, "amount": 0})
                slot["count"] += 1
                slot["amount"] += amount
        held: dict[str, int] = {}
        pending: dict[str, dict[str, int]] = {}
        revenue: dict[str, int] = {}
        for (account, asset), balance in self.ledger.balances().items():
            kind = L.parse_account(account).kind
            if kind in ("wallet", "credits"):
                held[asset] = held.get(asset, 0) + balance
            elif kind == "pending_withdrawals":
                pending.setdefault(asset, {"amount": 0, "count": 0})["amount"] += balance
            elif kind == "platform_revenue":
                revenue[asset] = revenue.get(asset, 0) + balance
        for status in PENDING_STATUSES:
            for withdrawal in WithdrawalModel.by_status.query(status):
                slot = pending.setdefault(withdrawal.currency, {"amount": 0, "count": 0})
                slot["count"] += 1
        return {
            "from": to_iso(start) if start is not None else None,
            "to": to_iso(end) if end is not None else None,
            "transactions": count,
            "volumes": {t: dict(sorted(v.items())) for t, v in sorted(volumes.items())},
            "feesEarned": dict(sorted(fees.items())),
            "platformRevenue": dict(sorted(revenue.items())),
            "balancesHeld": dict(sorted(held.items())),
            "pendingWithdrawals": dict(sorted(pending.items())),
        }

    def verify_ledger(self) -> dict[str, Any]:
        problems: list[ChainProblem] = self.ledger.verify()
        return {
            "ok": not problems,
            "problems": [
                {"account": p.account, "asset": p.asset, "sequence": p.sequence, "message": p.message} for p in problems
            ],
            "checkedAt": to_iso(self.clock()),
        }

    # ------------------------------------------------------------------ reads of the ledger tables
    def _user_balances(self, user_id: str) -> dict[str, int]:
        """The user's accounts that exist -> balance: one consistent BatchGetItem over every asset."""
        keys = [(L.user_wallet(user_id, c), c) for c in CURRENCIES] + [(L.user_credits(user_id), KWH)]
        return {asset: balance for (_, asset), balance in self.ledger.balances_of(keys).items()}

    def _user_assets(self, user_id: str) -> list[str]:
        default = get_settings().default_currency
        return sorted(self._user_balances(user_id), key=lambda a: (a != default, a == KWH, a))

    @staticmethod
    def _pending_withdrawals(user_id: str) -> dict[str, int]:
        pending: dict[str, int] = {}
        for status in PENDING_STATUSES:
            for item in WithdrawalModel.by_status.query(status, filter_condition=WithdrawalModel.user_id == user_id):
                pending[item.currency] = pending.get(item.currency, 0) + int(item.amount)
        return pending

    @staticmethod
    def _cursor_bounds(decoded: dict[str, Any], user_id: str, accounts: list[str]) -> dict[str, int | None]:
        bounds = decoded.get("b")
        mine = set(accounts)
        if not isinstance(bounds, dict) or not all(
            a in mine and (b is None or (isinstance(b, int) and b > 0)) for a, b in bounds.items()
        ):
            raise errors.BadRequest(
                "The cursor does not belong to this listing; start again without it.",
                errors=[errors.FieldError("cursor", "not a cursor of this listing")],
            )
        return dict(bounds)


# ------------------------------------------------------------------------------------------ helpers
def _entry_view(entry: ChainedEntry) -> dict[str, Any]:
    return {
        "id": entry.transaction_id,
        "type": entry.tx_type,
        **_money(entry.asset),
        "amount": entry.amount,
        "balanceAfter": entry.balance_after,
        "createdAt": to_iso(entry.created_at),
    }


def _user_account(user_id: str, asset: str) -> str:
    return L.user_account(user_id, asset)


def _currency(value: str | None) -> str:
    currency = (value or get_settings().default_currency).upper()
    if currency not in CURRENCIES:
        raise errors.InvalidInput(
            f"{value!r} is not a supported currency.",
            errors=[errors.FieldError("currency", "not a supported ISO 4217 currency")],
        )
    return currency


def _within(amount: int, low: int, high: int, field_name: str) -> None:
    if type(amount) is not int or not low <= amount <= high:
        raise errors.InvalidInput(
            f"{field_name} must be an integer number of minor units from {low} to {high}.",
            errors=[errors.FieldError(field_name, f"an integer from {low} to {high}")],
        )


def _failed_condition(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


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


def _connection() -> Connection:
    return Connection(region=get_settings().region)


def _withdrawal(withdrawal_id: str) -> WithdrawalModel:
    try:
        return WithdrawalModel.get(withdrawal_id, consistent_read=True)
    except DoesNotExist:
        raise errors.NotFound("No such withdrawal.") from None


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


def day_bounds(day: date) -> tuple[int, int]:
    """[start, end) of a UTC day in epoch milliseconds."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(start.timestamp() * 1000), int((start + timedelta(days=1)).timestamp() * 1000)


wallet_service = ServiceFactory(WalletService)
