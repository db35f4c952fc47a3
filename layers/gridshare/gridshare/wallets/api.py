"""Wallet routes: balances, history, statements, top-ups, withdrawals, and the Stripe webhook.

Money requests (`POST /v1/wallet/topups`, `POST /v1/wallet/withdrawals`, and the admin ones) are declared
`idempotent=True`, so they honour an `Idempotency-Key` header: the same key and body replay the first
response (with `Idempotent-Replayed: true`), the same key with another body is refused with 422 (see
gridshare.http.idempotency). Amounts are integers in minor units (Wh for KWH); floats and strings
are refused.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from gridshare.http.api import ApiBlueprint, HeaderParam
from gridshare.http.idempotency import RequestIds
from gridshare.http.models import ApiModel, QueryModel, RangeQuery, from_param, to_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from gridshare.http.responses import Envelope, Page
from gridshare.kernel.clock import now
from gridshare.kernel.roles import Caller
from gridshare.ledger.core import CURRENCIES, KWH, TX_TYPES
from gridshare.wallets.movements import TOPUP_MAX, TOPUP_MIN, WITHDRAWAL_MAX
from gridshare.wallets.responses import DailyStatement, LedgerEntry, Topup, Wallet, WebhookOutcome, Withdrawal
from gridshare.wallets.service import WalletService, wallet_service

api = ApiBlueprint("wallets")

WALLET_ROLES: frozenset[str] = frozenset({"admin", "operator", "prosumer", "consumer", "investor"})
"""Every role that owns a wallet; viewers only look."""

# The ledger's assets (currencies and energy), as an enum in the query model and the OpenAPI document.
Asset = Literal[tuple(sorted({*CURRENCIES, KWH}))]  # type: ignore[valid-type]

# The ledger's transaction types, as an enum in the query model and the OpenAPI document.
TxType = Literal[tuple(sorted(TX_TYPES))]  # type: ignore[valid-type]


CurrencyCode = Annotated[
    str,
    Field(
        description="ISO 4217, upper or lower case; default EUR",
        json_schema_extra={"enum": [c for code in sorted(CURRENCIES) for c in (code, code.lower())]},
    ),
]
"""A currency the ledger knows, as a body field: the document lists them (upper and lower case)."""


def supported_currency(value: str | None) -> str | None:
    """Upper-cased ISO 4217 code the ledger knows, or None (the service then uses the default, EUR)."""
    if value is None:
        return None
    if value.upper() not in CURRENCIES:
        raise ValueError("not a supported ISO 4217 currency")
    return value.upper()


class TopupBody(ApiModel):
    amount: StrictInt = Field(ge=TOPUP_MIN, le=TOPUP_MAX, description="minor units (cents), an integer")
    currency: CurrencyCode | None = None

    @field_validator("currency")
    @classmethod
    def _supported(cls, value: str | None) -> str | None:
        return supported_currency(value)


class StripeEventObject(BaseModel):
    """The event's object (for `payment_intent.*` events, a PaymentIntent: `id`, `amount`, `currency`...)."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, description="the PaymentIntent's id, pi_...")


class StripeEventData(BaseModel):
    model_config = ConfigDict(extra="allow")
    object: StripeEventObject


class StripeEvent(BaseModel):
    """A Stripe event as Stripe posts it. The view reads the raw bytes: they are what `Stripe-Signature` signs,
    so a body re-serialized by a proxy does not verify (400). Events are handled once per `id`."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, description="the event id, evt_...")
    type: str = Field(min_length=1, description="e.g. payment_intent.succeeded; other types are acknowledged, ignored")
    created: int | None = Field(default=None, description="Unix time the event was created")
    data: StripeEventData


class WithdrawalBody(ApiModel):
    amount: StrictInt = Field(ge=1, le=WITHDRAWAL_MAX, description="minor units, an integer")
    currency: CurrencyCode | None = None

    @field_validator("currency")
    @classmethod
    def _supported(cls, value: str | None) -> str | None:
        return supported_currency(value)


TRANSACTIONS_MAX_DAYS = 366
"""The longest `to - from` of a transactions listing: a year. Either may be left out (the listing is paged
newest first, by sequence, whatever the window), so this bounds the window, not the work."""


class TransactionsQuery(RangeQuery):
    """Newest first; `from`/`to` bound `createdAt`; without `asset`, every asset the caller holds."""

    MAX_SPAN_DAYS: ClassVar[int | None] = TRANSACTIONS_MAX_DAYS

    from_: str | None = from_param(f"optional; with `to`, at most {TRANSACTIONS_MAX_DAYS} days before it")
    to: str | None = to_param("optional (no upper bound)")
    asset: Asset | None = Field(default=None, description="a currency or KWH")
    type_: TxType | None = Field(default=None, alias="type")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


STATEMENT_MAX_AGE_DAYS = 366
"""How far back a statement may be asked for: it is read from the account's head back to its day."""


class StatementQuery(QueryModel):
    day: date | None = Field(
        default=None,
        alias="date",
        description=f"YYYY-MM-DD (UTC); default today; from {STATEMENT_MAX_AGE_DAYS} days back to tomorrow",
    )

    @field_validator("day")
    @classmethod
    def _recent(cls, value: date | None) -> date | None:
        if value is None:
            return None
        today = now().date()
        if (value - today).days > 1:  # tomorrow in UTC is today somewhere
            raise ValueError(f"{value.isoformat()} is after tomorrow (today is {today.isoformat()} UTC)")
        if (today - value).days > STATEMENT_MAX_AGE_DAYS:
            raise ValueError(f"at most {STATEMENT_MAX_AGE_DAYS} days back (today is {today.isoformat()} UTC)")
        return value


def service() -> WalletService:
    return wallet_service()


@api.route(
    "/v1/wallet",
    "GET",
    roles=WALLET_ROLES,
    response=Envelope[Wallet],
    summary="The caller's balances per asset: available, pending",
)
def get_wallet(caller: Caller) -> dict:
    return {"data": service().statements.wallet(caller.user_id)}


@api.route(
    "/v1/wallet/transactions",
    "GET",
    roles=WALLET_ROLES,
    query=TransactionsQuery,
    response=Page[LedgerEntry],
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
    query=StatementQuery,
    response=Envelope[DailyStatement],
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
    body=TopupBody,
    status=201,
    idempotent=True,
    response=Envelope[Topup],
    summary="Start a top-up: a Stripe PaymentIntent whose client secret the app confirms",
)
def create_topup(caller: Caller, body: TopupBody, ids: RequestIds) -> dict:
    return {"data": service().topups.create(caller.user_id, body.amount, body.currency, ids)}


@api.route(
    "/v1/wallet/withdrawals",
    "POST",
    roles=WALLET_ROLES,
    body=WithdrawalBody,
    status=201,
    idempotent=True,
    response=Envelope[Withdrawal],
    summary="Request a withdrawal: the amount moves from available to pending until an admin decides",
)
def request_withdrawal(caller: Caller, body: WithdrawalBody, ids: RequestIds) -> dict:
    return {"data": service().withdrawals.request(caller.user_id, body.amount, body.currency, ids)}


@api.route(
    "/v1/payments/stripe/webhook",
    "POST",
    roles=None,
    response=Envelope[WebhookOutcome],
    errors=(400, 413, 415, 503),  # a signature that does not verify, or no event; over 512 KiB; not JSON; storage
    headers=(
        HeaderParam(
            "Stripe-Signature",
            "Stripe's signature of the raw body (t=<unix time>,v1=<hex HMAC-SHA256>,...); 400 when it does not verify",
            required=True,
        ),
    ),
    summary="Stripe webhook: verified Stripe-Signature on the raw body, deduplicated by event id",
    raw_body=StripeEvent,
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
