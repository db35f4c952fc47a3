"""Admin wallet routes: withdrawal decisions, refunds, hand-recorded sales, metrics, ledger verification.

The POST routes are idempotent like the wallet's money routes (gridshare.wallets.api): they honour an
`Idempotency-Key` header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ADMIN, ApiBlueprint
from gridshare.http.idempotency import RequestIds
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller
from gridshare.wallets.api import service

if TYPE_CHECKING:
    from gridshare.wallets.requests import MetricsQuery, RefundBody, RejectBody, SaleBody, WithdrawalsQuery

api = ApiBlueprint("wallets")


@api.route(
    "/v1/admin/withdrawals",
    "GET",
    roles=ADMIN,
    query="WithdrawalsQuery",
    response="Page[Withdrawal]",
    summary="Withdrawals by status, newest first (admin)",
)
def list_withdrawals(caller: Caller, query: WithdrawalsQuery) -> dict:
    items, cursor = service().withdrawals.list_by_status(query.status, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/admin/withdrawals/{id}/approve",
    "POST",
    roles=ADMIN,
    idempotent=True,
    response="Envelope[Withdrawal]",
    summary="Approve a withdrawal: pay out through Stripe and settle it (admin)",
)
def approve_withdrawal(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().withdrawals.approve(caller.user_id, id)}


@api.route(
    "/v1/admin/withdrawals/{id}/reject",
    "POST",
    roles=ADMIN,
    body="RejectBody",
    idempotent=True,
    response="Envelope[Withdrawal]",
    summary="Reject a withdrawal: the pending amount returns to the user's wallet (admin)",
)
def reject_withdrawal(caller: Caller, id: str, body: RejectBody) -> dict:  # noqa: A002
    return {"data": service().withdrawals.reject(caller.user_id, id, body.reason)}


@api.route(
    "/v1/admin/refunds",
    "POST",
    roles=ADMIN,
    body="RefundBody",
    status=201,
    idempotent=True,
    response="Envelope[Refund]",
    errors=(404,),  # no such top-up
    summary="Refund (part of) a top-up through Stripe and post the ledger refund (admin)",
)
def create_refund(caller: Caller, body: RefundBody, ids: RequestIds) -> dict:
    return {"data": service().refunds.create(caller.user_id, body.transaction_id, body.amount, ids)}


@api.route(
    "/v1/admin/sales",
    "POST",
    roles=ADMIN,
    body="SaleBody",
    status=201,
    idempotent=True,
    response="Envelope[Sale]",
    summary="Record an energy sale: host 45 %, investors 35 % pro rata, platform 20 %, one transaction (admin)",
)
def record_sale(caller: Caller, body: SaleBody, ids: RequestIds) -> dict:
    sale = service().sales.record_for_admin(
        ids.new("sale"),
        buyer_id=body.buyer_id,
        host_id=body.host_id,
        site_id=body.site_id,
        gross=body.gross,
        currency=body.currency,
        investor_shares=body.investor_shares,
        energy_wh=body.energy_wh,
        no_investors=body.no_investors,
        reference=body.reference,
    )
    return {"data": sale}


@api.route(
    "/v1/admin/metrics",
    "GET",
    roles=ADMIN,
    query="MetricsQuery",
    response="Envelope[Metrics]",
    errors=(503,),  # the scans need longer than the request's deadline
    summary="Volumes by type, fees earned, balances held, pending withdrawals (admin)",
)
def get_metrics(caller: Caller, query: MetricsQuery) -> dict:
    start, end = query.bounds()
    return {"data": service().reports.metrics(start, end)}


@api.route(
    "/v1/admin/ledger/verify",
    "GET",
    roles=ADMIN,
    response="Envelope[LedgerVerification]",
    errors=(503,),  # the ledger is too large to verify within the request's deadline
    summary="Verify every hash chain, balance and transaction of the ledger (admin; a full scan)",
)
def verify_ledger(caller: Caller) -> dict:
    return {"data": service().reports.verify_ledger()}
