"""Wallets' response bodies (gridshare.http.responses): balances, ledger entries, money movements, reports.

Amounts are integers in minor units of their currency (Wh for KWH); ledger entries are signed (credits
positive, debits negative).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from gridshare.http.responses import Absent, ResponseModel, Timestamp, absent
from gridshare.ledger.core import TX_TYPES

TxType = Literal[tuple(sorted(TX_TYPES))]  # type: ignore[valid-type]


class Asset(ResponseModel):
    """What an amount is counted in (wallets.statements._money)."""

    asset: str = Field(description="an ISO 4217 currency, or KWH (energy credits)")
    currency: str | None = Field(description="the currency; null for KWH")
    minor_units: Absent[int] = absent("currencies: decimal places of the minor unit")
    unit: Absent[Literal["Wh"]] = absent("KWH: amounts are in Wh")


class Balance(Asset):
    available: int = Field(description="the wallet's (or credits') balance")
    pending: int = Field(description="requested withdrawals not yet paid out or released")
    total: int = Field(description="available + pending")


class Wallet(ResponseModel):
    default_currency: str
    balances: list[Balance] = Field(description="the default currency first, then other currencies, then KWH")


class LedgerEntry(Asset):
    """One entry of the caller's account: the transaction it belongs to and the balance after it."""

    id: str = Field(description="the ledger transaction id")
    type: TxType
    amount: int = Field(description="signed: credits positive, debits negative")
    balance_after: int
    created_at: Timestamp
    settlement: Absent[dict[str, str | int | bool | None]] = absent(
        "statements, settlement lines: the posting's kind, interval (epoch ms), energy and price "
        "(energyWh, deliveredWh, shortfallWh, price, fee, retail, imbalance), revision, reverses/first"
    )


class Statement(Asset):
    opening: int
    credits: int
    debits: int = Field(description="positive: the sum of the day's debits")
    closing: int = Field(description="opening + credits - debits")
    lines: list[LedgerEntry] = Field(description="the day's entries, oldest first")


class DailyStatement(ResponseModel):
    date: date
    statements: list[Statement] = Field(description="one per asset the caller holds")


class Payment(ResponseModel):
    """A top-up (wallets.topups.payment_view)."""

    id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: Literal["pending", "succeeded", "failed", "canceled"]
    refunded_amount: int
    transaction_id: str | None = Field(description="the ledger credit, once Stripe reported the payment")
    created_at: Timestamp


class Topup(Payment):
    client_secret: str = Field(description="confirm the PaymentIntent with Stripe's SDK using it")


class WebhookOutcome(ResponseModel):
    event_id: str
    type: str = Field(description="the Stripe event type")
    outcome: Literal[
        "credited",
        "already_credited",
        "amount_mismatch",
        "recorded_failed",
        "recorded_canceled",
        "ignored",
        "ignored_after_success",
        "unknown_payment",
    ]
    duplicate: bool = Field(description="true when the event was already handled (its first outcome)")


class Withdrawal(ResponseModel):
    """A withdrawal request and its decision (wallets.withdrawals.withdrawal_view)."""

    id: str
    user_id: str
    amount: int
    currency: str
    status: Literal["requested", "approving", "rejecting", "approved", "rejected"]
    transaction_id: str = Field(description="the ledger transaction that moved the amount to pending")
    decision_transaction_id: str | None
    payout_id: str | None = Field(description="Stripe's payout, once approved")
    reason: str | None = Field(description="why it was rejected")
    decided_by: str | None
    created_at: Timestamp
    decided_at: Timestamp | None


class Refund(ResponseModel):
    """A refund of (part of) a top-up (wallets.refunds.refund_view)."""

    id: str
    payment_id: str
    original_transaction_id: str | None = Field(description="the top-up's ledger credit")
    transaction_id: str | None = Field(description="the refund's ledger transaction, once posted")
    amount: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    stripe_refund_id: str | None
    refunded_total: int = Field(description="refunded of the top-up so far, this refund included")
    refundable: int = Field(description="what can still be refunded")
    created_at: Timestamp


class SaleSplit(ResponseModel):
    host: int = Field(description="45 %")
    investors: dict[str, int] = Field(description="investor user id -> their part of the 35 %")
    pool: int = Field(description="the investors' part held for the site when it has none (`noInvestors: pool`)")
    platform: int = Field(description="20 %")


class Sale(ResponseModel):
    id: str
    transaction_id: str
    buyer_id: str
    host_id: str
    site_id: str
    gross: int
    currency: str
    split: SaleSplit
    energy_wh: int | None = Field(description="kWh credits moved host -> buyer, in Wh")
    created_at: Timestamp


class Volume(ResponseModel):
    count: int = Field(description="transactions")
    amount: int = Field(description="what they moved (the sum of their credits)")


class PendingWithdrawals(ResponseModel):
    amount: int
    count: int


class Metrics(ResponseModel):
    """Volumes and fees within [from, to); balances and pending withdrawals as they stand now."""

    from_: Timestamp | None = Field(alias="from")
    to: Timestamp | None
    transactions: int
    volumes: dict[str, dict[str, Volume]] = Field(description="transaction type -> asset -> volume")
    fees_earned: dict[str, int] = Field(description="asset -> net credits to platform revenue in the window")
    platform_revenue: dict[str, int] = Field(description="asset -> platform revenue balance")
    balances_held: dict[str, int] = Field(description="asset -> what users' wallets and credits hold")
    pending_withdrawals: dict[str, PendingWithdrawals]


class ChainProblem(ResponseModel):
    account: str
    asset: str
    sequence: int | None
    message: str


class LedgerVerification(ResponseModel):
    ok: bool
    problems: list[ChainProblem]
    checked_at: Timestamp
