"""Wallets: balances, top-ups through Stripe, signed webhooks, withdrawals, refunds, sales, statements.

The use cases live in one module each, with the invariants they keep in its docstring:

- :mod:`~gridshare.wallets.movements`: the ledger transaction id of every money movement (why each step
  can be repeated without a second effect), limits, validation;
- :mod:`~gridshare.wallets.topups`: PaymentIntents, and Stripe's webhook that credits them;
- :mod:`~gridshare.wallets.withdrawals`: requests, and an admin's approval (payout) or rejection;
- :mod:`~gridshare.wallets.refunds`: refunds of credited top-ups, never above the original;
- :mod:`~gridshare.wallets.sales`: sales split 45/35/20 in one transaction (:func:`record_sale`);
- :mod:`~gridshare.wallets.statements`: balances, history and daily statements of a user;
- :mod:`~gridshare.wallets.reports`: admin metrics and ledger verification;
- :mod:`~gridshare.wallets.reservations`: market BIDs' worst-case cost held in escrow, and its release.

:class:`WalletService` builds every group with the same collaborators (the ledger, the payment gateway,
the clock); routes reach it through ``wallet_service()``, tests ``use()`` one built with fakes. Other
contexts import from this module only (docs/adding-a-context.md): :func:`post_settlement`
(:mod:`~gridshare.wallets.settlements`) is what the settlement context calls; :func:`record_investment`
and :func:`site_returns` (:mod:`~gridshare.wallets.investments`) are what the sites context calls.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gridshare.kernel.clock import now_ms
from gridshare.kernel.factory import ServiceFactory
from gridshare.ledger.store import LedgerStore
from gridshare.wallets.limits import INVESTMENT_MAX
from gridshare.wallets.movements import (
    InsufficientBalance,
    WalletLedger,
    refund_tx_id,
    sale_tx_id,
    topup_tx_id,
    withdrawal_tx_id,
)
from gridshare.wallets.settlements import SettlementPosted, post_settlement, sweep_clearing

if TYPE_CHECKING:
    from gridshare.wallets.investments import (
        InvestmentPosted,
        investment_posted,
        investment_tx_id,
        record_investment,
        site_returns,
    )
    from gridshare.wallets.refunds import Refunds
    from gridshare.wallets.reports import Reports
    from gridshare.wallets.reservations import Reservations, reservation_tx_id
    from gridshare.wallets.sales import SaleRecorded, Sales, record_sale
    from gridshare.wallets.statements import Statements
    from gridshare.wallets.stripe_gateway import PaymentGateway
    from gridshare.wallets.topups import Topups
    from gridshare.wallets.withdrawals import Withdrawals

# The use cases' modules are imported on first use (decision 0029): SettleShard, which posts settlements
# and sweeps clearing accounts, imports neither Stripe's gateway nor the top-ups, refunds or statements.
_LAZY = {
    "InvestmentPosted": "investments",
    "investment_posted": "investments",
    "investment_tx_id": "investments",
    "record_investment": "investments",
    "site_returns": "investments",
    "reservation_tx_id": "reservations",
    "SaleRecorded": "sales",
    "record_sale": "sales",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"gridshare.wallets.{module}"), name)


def _stripe_gateway() -> PaymentGateway:
    from gridshare.wallets.stripe_gateway import stripe_gateway

    return stripe_gateway()


# What other contexts (and tests) may import: the entry point, and what a sale's caller handles.
__all__ = [
    "INVESTMENT_MAX",
    "InsufficientBalance",
    "InvestmentPosted",
    "SaleRecorded",
    "SettlementPosted",
    "WalletService",
    "investment_posted",
    "investment_tx_id",
    "record_investment",
    "post_settlement",
    "record_sale",
    "refund_tx_id",
    "reservation_tx_id",
    "sale_tx_id",
    "site_returns",
    "sweep_clearing",
    "topup_tx_id",
    "wallet_service",
    "withdrawal_tx_id",
]


@dataclass
class WalletService:
    """Every wallet use case, one attribute per group, all built with the collaborators given here (each
    group on first use)."""

    ledger: WalletLedger = field(default_factory=LedgerStore)
    gateway_factory: Callable[[], PaymentGateway] = _stripe_gateway
    clock: Callable[[], int] = now_ms

    @functools.cached_property
    def topups(self) -> Topups:
        from gridshare.wallets.topups import Topups

        return Topups(self.ledger, self.gateway_factory, self.clock)

    @functools.cached_property
    def withdrawals(self) -> Withdrawals:
        from gridshare.wallets.withdrawals import Withdrawals

        return Withdrawals(self.ledger, self.gateway_factory, self.clock)

    @functools.cached_property
    def refunds(self) -> Refunds:
        from gridshare.wallets.refunds import Refunds

        return Refunds(self.ledger, self.gateway_factory, self.clock)

    @functools.cached_property
    def sales(self) -> Sales:
        from gridshare.wallets.sales import Sales

        return Sales(self.ledger, self.gateway_factory, self.clock)

    @functools.cached_property
    def statements(self) -> Statements:
        from gridshare.wallets.statements import Statements

        return Statements(self.ledger, self.gateway_factory, self.clock)

    @functools.cached_property
    def reports(self) -> Reports:
        from gridshare.wallets.reports import Reports

        return Reports(self.ledger, self.gateway_factory, self.clock)

    @functools.cached_property
    def reservations(self) -> Reservations:
        from gridshare.wallets.reservations import Reservations

        return Reservations(self.ledger, self.gateway_factory, self.clock)


wallet_service = ServiceFactory(WalletService)
