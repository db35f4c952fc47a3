"""The wallets context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the wallets api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from gridshare.http.models import ApiModel, QueryModel, RangeQuery, from_param, to_param
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gridshare.kernel.clock import now
from gridshare.ledger.core import CURRENCIES, KWH, TX_TYPES
from gridshare.wallets.movements import SALE_MAX, TOPUP_MAX, TOPUP_MIN, WITHDRAWAL_MAX

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


PartyId = Annotated[str, Field(min_length=1, max_length=128)]


class MetricsQuery(RangeQuery):
    """An open window over the transactions' `createdAt` (the balances and pending figures are now's)."""

    from_: str | None = from_param("optional (no lower bound)")
    to: str | None = to_param("optional (no upper bound)")


class WithdrawalsQuery(QueryModel):
    status: Literal["requested", "approving", "rejecting", "approved", "rejected"] = "requested"
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class RejectBody(ApiModel):
    # A rejection needs no reason: `POST .../reject` with no body at all is a rejection without one.
    EMPTY_BODY_ALLOWED: ClassVar[bool] = True

    reason: str | None = Field(default=None, max_length=500)


class RefundBody(ApiModel):
    transaction_id: str = Field(
        min_length=1,
        max_length=200,
        description="the top-up: its payment id (the id POST /v1/wallet/topups returned), its ledger "
        "transaction id (topup:<paymentId>) or its PaymentIntent id (pi_...)",
    )
    amount: StrictInt | None = Field(default=None, ge=1, description="minor units; default all still refundable")


class SaleBody(ApiModel):
    host_id: PartyId
    buyer_id: PartyId
    site_id: PartyId
    gross: StrictInt = Field(ge=1, le=SALE_MAX, description="what the buyer pays, minor units")
    currency: CurrencyCode | None = None
    investor_shares: dict[str, Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="investor user id -> share (any positive number; only ratios matter)"
    )
    energy_wh: StrictInt | None = Field(default=None, ge=1, description="kWh credits moved host -> buyer, in Wh")
    no_investors: Literal["refuse", "host", "pool"] = Field(
        default="refuse", description="where the investors' 35 % goes when the share table is empty"
    )
    reference: str | None = Field(default=None, max_length=200)

    @field_validator("currency")
    @classmethod
    def _supported(cls, value: str | None) -> str | None:
        return supported_currency(value)
