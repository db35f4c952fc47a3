"""Wallet routes: balances, history, statements, top-ups, withdrawals, and the Stripe webhook.

Money requests (`POST /v1/wallet/topups`, `POST /v1/wallet/withdrawals`, and the admin ones) are declared
`idempotent=True`, so they honour an `Idempotency-Key` header: the same key and body replay the first
response (with `Idempotent-Replayed: true`), the same key with another body is refused with 422 (see
gridshare.http.idempotency). Amounts are integers in minor units (Wh for KWH); floats and strings
are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridshare.http.api import ApiBlueprint, HeaderParam
from gridshare.http.idempotency import RequestIds
from gridshare.http.pagination import page
from gridshare.kernel.clock import now
from gridshare.kernel.roles import Caller
from gridshare.wallets.service import WalletService, wallet_service

if TYPE_CHECKING:
    from gridshare.wallets.requests import StatementQuery, TopupBody, TransactionsQuery, WithdrawalBody

api = ApiBlueprint("wallets")

WALLET_ROLES: frozenset[str] = frozenset({"admin", "operator", "prosumer", "consumer", "investor"})
"""Every role that owns a wallet; viewers only look."""


def service() -> WalletService:
    return wallet_service()


@api.route(
    "/v1/wallet",
    "GET",
    roles=WALLET_ROLES,
    response="Envelope[Wallet]",
    summary="The caller's balances per asset: available, pending",
)
def get_wallet(caller: Caller) -> dict:
    return {"data": service().statements.wallet(caller.user_id)}


@api.route(
    "/v1/wallet/transactions",
    "GET",
    roles=WALLET_ROLES,
    query="TransactionsQuery",
    response="Page[LedgerEntry]",
    summary="The caller's ledger entries, newest first (filter by asset, type, time)",
)
def list_transactions(caller: Caller, query: TransactionsQuery) -> dict:
    start, end = query.bounds()
    items, cursor = service().statements.transactions(
        caller.user_id,
        asset=query.asset,
        tx_type=query.type_,
        start=start,
        end=end,
        limit=query.limit,
        cursor=query.cursor,
    )
    return page(items, query.limit, cursor)


@api.route(
    "/v1/statements",
    "GET",
    roles=WALLET_ROLES,
    query="StatementQuery",
    response="Envelope[DailyStatement]",
    errors=(503,),  # the account's history since the day needs longer than the request's deadline
    summary="The caller's daily statement per asset: opening, credits, debits, closing, lines",
)
def get_statement(caller: Caller, query: StatementQuery) -> dict:
    day = query.day or now().date()
    return {"data": service().statements.statement(caller.user_id, day)}


@api.route(
    "/v1/wallet/topups",
    "POST",
    roles=WALLET_ROLES,
    body="TopupBody",
    status=201,
    idempotent=True,
    response="Envelope[Topup]",
    summary="Start a top-up: a Stripe PaymentIntent whose client secret the app confirms",
)
def create_topup(caller: Caller, body: TopupBody, ids: RequestIds) -> dict:
    return {"data": service().topups.create(caller.user_id, body.amount, body.currency, ids)}


@api.route(
    "/v1/wallet/withdrawals",
    "POST",
    roles=WALLET_ROLES,
    body="WithdrawalBody",
    status=201,
    idempotent=True,
    response="Envelope[Withdrawal]",
    summary="Request a withdrawal: the amount moves from available to pending until an admin decides",
)
def request_withdrawal(caller: Caller, body: WithdrawalBody, ids: RequestIds) -> dict:
    return {"data": service().withdrawals.request(caller.user_id, body.amount, body.currency, ids)}


@api.route(
    "/v1/payments/stripe/webhook",
    "POST",
    roles=None,
    response="Envelope[WebhookOutcome]",
    errors=(400, 413, 415, 503),  # a signature that does not verify, or no event; over 512 KiB; not JSON; storage
    headers=(
        HeaderParam(
            "Stripe-Signature",
            "Stripe's signature of the raw body (t=<unix time>,v1=<hex HMAC-SHA256>,...); 400 when it does not verify",
            required=True,
        ),
    ),
    summary="Stripe webhook: verified Stripe-Signature on the raw body, deduplicated by event id",
    raw_body="StripeEvent",
)
def stripe_webhook(request: Any) -> dict:
    raw = request.raw_body or b""
    return {
        "data": service().topups.handle_stripe_webhook(
            raw if isinstance(raw, bytes) else raw.encode(), _signature(request)
        )
    }


def _signature(request: Any) -> str | None:
    value = request.headers.get("stripe-signature")
    return str(value) if value is not None else None
