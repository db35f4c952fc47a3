"""What every wallet use case shares: ledger transaction ids, limits, validation, the ledger it needs.

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

Pure: no AWS client is imported here (the payment gateway's type only for the type checker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gridshare.kernel import errors
from gridshare.kernel.deadline import NEVER, Deadline
from gridshare.kernel.settings import get_settings
from gridshare.ledger import core as L
from gridshare.ledger.core import CURRENCIES, Transaction
from gridshare.ledger.history import HistoryPage, RecentEntries

if TYPE_CHECKING:
    from gridshare.wallets.stripe_gateway import PaymentGateway

__all__ = [
    "SALE_MAX",
    "TOPUP_MAX",
    "TOPUP_MIN",
    "WITHDRAWAL_MAX",
    "InsufficientBalance",
    "WalletLedger",
    "WalletUseCases",
    "check_amount",
    "checked_currency",
    "refund_tx_id",
    "sale_tx_id",
    "topup_tx_id",
    "withdrawal_tx_id",
]

TOPUP_MIN = 100
"""Smallest top-up in minor units (1.00 EUR): below it card fees exceed the amount."""
TOPUP_MAX = 1_000_000
"""Largest top-up in minor units (10,000 EUR): above it, a top-up is a bank transfer, not a card payment."""
WITHDRAWAL_MAX = 100_000_000
SALE_MAX = 1_000_000_000


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


# --------------------------------------------------------------------------------------- validation
def checked_currency(value: str | None) -> str:
    """The upper-cased currency, or the default one; an unknown code is refused (422, field ``currency``)."""
    currency = (value or get_settings().default_currency).upper()
    if currency not in CURRENCIES:
        raise errors.InvalidInput(
            f"{value!r} is not a supported currency.",
            errors=[errors.FieldError("currency", "not a supported ISO 4217 currency")],
        )
    return currency


def check_amount(amount: int, low: int, high: int, field_name: str) -> None:
    """Refuse (422) an amount that is not an int in [low, high]; a bool or a float is not an amount."""
    if type(amount) is not int or not low <= amount <= high:
        raise errors.InvalidInput(
            f"{field_name} must be an integer number of minor units from {low} to {high}.",
            errors=[errors.FieldError(field_name, f"an integer from {low} to {high}")],
        )


# ------------------------------------------------------------------------------------ collaborators
class WalletLedger(L.LedgerPort, Protocol):
    """What the wallets need from the ledger: posting, and the paged reads of ``LedgerStore``."""

    def balances(self) -> dict[tuple[str, str], int]: ...

    def balances_of(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]: ...

    def history(
        self,
        below: Mapping[str, int | None],
        *,
        limit: int,
        tx_type: str | None = None,
        start: int | None = None,
        end: int | None = None,
        deadline: Deadline = NEVER,
    ) -> HistoryPage: ...

    def entries_since(self, account: str, since: int) -> RecentEntries: ...

    def transactions(self, start: int | None = None, end: int | None = None) -> Iterable[Transaction]: ...


@dataclass
class WalletUseCases:
    """A group of wallet use cases and the collaborators every group is built with (by ``WalletService``)."""

    ledger: WalletLedger
    gateway_factory: Callable[[], PaymentGateway]
    clock: Callable[[], int]

    @property
    def gateway(self) -> PaymentGateway:
        return self.gateway_factory()
