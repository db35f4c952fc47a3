"""The double-entry ledger: accounts, balanced transactions, hash-chained entries, and a reference ledger.

Pure Python (stdlib only, no AWS). The DynamoDB adapter (``gridshare.ledger.store``) implements
the same :meth:`Ledger.post` semantics and reuses :func:`check_funds` and :func:`build_postings` from here,
so the in-memory :class:`Ledger` is the reference model the adapter is tested against, entry for entry
and hash for hash.

**Assets and amounts.** An asset is an ISO 4217 currency, counted in its minor unit (EUR cents, JPY yen),
or ``"KWH"``, the kWh credit, counted in Wh. Every amount is a Python ``int``: floats never enter the
ledger, so a balance is exact whatever the number of operations.

**Accounts.** An account id names its owner, its purpose and its asset, e.g. ``user:<userId>:wallet:EUR``;
the asset is always the last segment, so an entry cannot credit euros to a kWh account. Only external
counterparties (Stripe clearing, the grid) and a user's receivable (``receivable:<userId>:<CUR>``, what
they owe for settlement charges their wallet could not cover) may go below zero: their negative balance is
what the outside world owes or has been paid. So may a settlement shard's clearing accounts
(``clearing:<runId>.<shard>:grid:<ASSET>``, ``clearing:<runId>.<shard>:platform:<CUR>``, decision 0028),
which hold the grid's and the platform's legs of one shard until its sweep brings them back to 0. A
user's wallet or credits, the pending withdrawals, an investor pool, a site's investment account
(``site:<siteId>:investment:<CUR>``: what investors put in) and the platform's revenue are claims that
cannot be negative; a transaction that would make one negative is refused whole (:class:`InsufficientFunds`).

**Transactions.** Two or more non-zero entries that sum to zero *per asset* (a sale may move euros and kWh
credits in one transaction; each asset balances on its own). A positive amount credits the account's
balance, a negative one debits it. Corrections are new transactions (:func:`reversal`), never edits.

**Idempotency.** A transaction id is an idempotency key: posting the same id with the same body
(:meth:`Transaction.body_hash`, which leaves out ``created_at`` because a retry happens later) is a no-op
that returns the first result; the same id with another body is refused
(:class:`DuplicateTransactionConflict`). Callers derive ids from what they are doing (a Stripe event id, a
settlement run and party) or from the client's ``Idempotency-Key``, so every retry reuses the id.

**Tamper evidence.** Each account's entries form a hash chain (:func:`chain_hash`): entry *n* commits to
entry *n-1*'s hash, its own account, asset, amount, transaction id and sequence number. Editing, deleting
or reordering an entry breaks every later hash, which :func:`verify_chain` reports.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple, NewType, Protocol

from gridshare.kernel.clock import now_ms
from gridshare.kernel.errors import Conflict, FieldError, InvalidInput
from gridshare.ledger.assets import CURRENCIES, KWH, MAX_AMOUNT, is_asset
from gridshare.ledger.revenue_split import NoInvestors, SplitResult, Weight, largest_remainder, split_sale

__all__ = [
    "CLEARING_KINDS",
    "CURRENCIES",
    "GENESIS_HASH",
    "KWH",
    "MAX_AMOUNT",
    "MAX_ENTRIES",
    "TX_TYPES",
    "AccountHead",
    "AccountId",
    "AccountRef",
    "ChainProblem",
    "ChainedEntry",
    "DuplicateTransactionConflict",
    "Entry",
    "InsufficientFunds",
    "InvalidTransaction",
    "Ledger",
    "LedgerPort",
    "PostResult",
    "RefundExceedsOriginal",
    "Transaction",
    "account_asset",
    "build_postings",
    "chain_hash",
    "check_funds",
    "clearing_account",
    "energy_credit",
    "grid_counterparty",
    "investment",
    "investors_pool",
    "is_asset",
    "market_escrow",
    "may_go_negative",
    "minor_units",
    "net_by_account",
    "parse_account",
    "pending_withdrawals",
    "platform_revenue",
    "pool_payout",
    "receivable",
    "refund",
    "reservation",
    "reservation_release",
    "reversal",
    "sale_transaction",
    "site_investment",
    "stripe_clearing",
    "topup",
    "transfer",
    "user_account",
    "user_credits",
    "user_wallet",
    "verify_chain",
    "verify_transactions",
    "withdrawal_approve",
    "withdrawal_reject",
    "withdrawal_request",
]

# --------------------------------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------------------------------

MAX_ENTRIES = 49
"""Entries per transaction. The DynamoDB adapter writes one TransactWriteItems of at most 100 actions:
1 transaction put + 1 balance update per distinct account + 1 put per entry <= 1 + 49 + 49 = 99."""


def minor_units(asset: str) -> int:
    """Digits after the decimal point of one unit: EUR -> 2 (cents), JPY -> 0, KWH -> 3 (Wh)."""
    if asset == KWH:
        return 3
    if asset in CURRENCIES:
        return CURRENCIES[asset]
    raise InvalidTransaction(f"unknown asset {asset!r}", field="asset")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class InvalidTransaction(InvalidInput, ValueError):
    """A transaction or builder argument is malformed (422). Also a ValueError, for pure-domain callers."""

    def __init__(self, detail: str, *, field: str = "transaction") -> None:
        super().__init__(detail, errors=[FieldError(field, detail)])


class RefundExceedsOriginal(InvalidTransaction):
    """A refund above what remains refundable of its top-up."""


class DuplicateTransactionConflict(Conflict):
    """The transaction id was already posted with a different body (409): the idempotency key was reused."""

    def __init__(self, transaction_id: str) -> None:
        super().__init__(f"transaction {transaction_id} was already posted with a different body")
        self.transaction_id = transaction_id


class InsufficientFunds(Conflict):
    """Posting would take an account that may not go negative below zero; nothing was posted (409)."""

    def __init__(self, account: str, asset: str, balance: int, needed: int) -> None:
        super().__init__(f"{account} holds {balance} {asset}, {needed} needed")
        self.account = account
        self.asset = asset
        self.balance = balance
        self.needed = needed


# --------------------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------------------

AccountId = NewType("AccountId", str)
"""An account id string; build one with the helpers below, never by hand."""

_ID = r"[A-Za-z0-9][A-Za-z0-9._@+\-]{0,127}"
_ID_RE = re.compile(_ID)
_ACCOUNT_RES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("wallet", re.compile(rf"user:(?P<owner>{_ID}):wallet:(?P<asset>[A-Z]{{3}})")),
    ("credits", re.compile(rf"user:(?P<owner>{_ID}):credits:(?P<asset>KWH)")),
    ("platform_revenue", re.compile(r"platform:revenue:(?P<asset>[A-Z]{3})")),
    ("stripe_clearing", re.compile(r"stripe:clearing:(?P<asset>[A-Z]{3})")),
    ("pending_withdrawals", re.compile(r"pending:withdrawals:(?P<asset>[A-Z]{3})")),
    ("investors_pool", re.compile(rf"investors:pool:(?P<owner>{_ID}):(?P<asset>[A-Z]{{3}})")),
    ("grid_counterparty", re.compile(r"grid:counterparty:(?P<asset>[A-Z]{3})")),
    ("site_investment", re.compile(rf"site:(?P<owner>{_ID}):investment:(?P<asset>[A-Z]{{3}})")),
    ("market_escrow", re.compile(rf"user:(?P<owner>{_ID}):escrow:(?P<asset>[A-Z]{{3}})")),
    ("receivable", re.compile(rf"receivable:(?P<owner>{_ID}):(?P<asset>[A-Z]{{3}})")),
    ("grid_clearing", re.compile(rf"clearing:(?P<owner>{_ID}):grid:(?P<asset>[A-Z]{{3}})")),
    ("platform_clearing", re.compile(rf"clearing:(?P<owner>{_ID}):platform:(?P<asset>[A-Z]{{3}})")),
)
_CURRENCY_ONLY = frozenset(
    {
        "wallet",
        "platform_revenue",
        "stripe_clearing",
        "pending_withdrawals",
        "investors_pool",
        "site_investment",
        "market_escrow",
        "receivable",
        "platform_clearing",
    }
)
_MAY_GO_NEGATIVE = frozenset(
    {"stripe_clearing", "grid_counterparty", "receivable", "grid_clearing", "platform_clearing"}
)
CLEARING_KINDS = frozenset({"grid_clearing", "platform_clearing"})
"""A settlement shard's clearing accounts (:func:`clearing_account`): swept to 0 when the shard ends."""


class AccountRef(NamedTuple):
    """A parsed account id: ``kind`` (wallet, credits, ...), ``owner`` (user or site id, or "") and asset."""

    kind: str
    owner: str
    asset: str


def parse_account(account: str) -> AccountRef:
    """Parse and validate an account id; raises :class:`InvalidTransaction` for anything unknown."""
    if isinstance(account, str):
        for kind, pattern in _ACCOUNT_RES:
            match = pattern.fullmatch(account)
            if match is None:
                continue
            asset = match["asset"]
            if kind in _CURRENCY_ONLY and asset not in CURRENCIES:
                raise InvalidTransaction(f"{account}: {asset} is not a known currency", field="account")
            if not is_asset(asset):
                raise InvalidTransaction(f"{account}: unknown asset {asset}", field="account")
            return AccountRef(kind, match.groupdict().get("owner") or "", asset)
    raise InvalidTransaction(f"{account!r} is not a ledger account id", field="account")


def account_asset(account: str) -> str:
    return parse_account(account).asset


def may_go_negative(account: str) -> bool:
    """External counterparties (Stripe clearing, the grid) may go negative; every other account may not."""
    return parse_account(account).kind in _MAY_GO_NEGATIVE


def _id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidTransaction(f"{what} {value!r} is not a valid id", field=what.replace(" ", "_"))
    return value


def _currency(currency: str) -> str:
    if currency not in CURRENCIES:
        raise InvalidTransaction(f"{currency!r} is not a known ISO 4217 currency", field="currency")
    return currency


def user_wallet(user_id: str, currency: str) -> AccountId:
    return AccountId(f"user:{_id(user_id, 'user id')}:wallet:{_currency(currency)}")


def user_credits(user_id: str) -> AccountId:
    return AccountId(f"user:{_id(user_id, 'user id')}:credits:{KWH}")


def user_account(user_id: str, asset: str) -> AccountId:
    """A user's wallet for a currency, their kWh credits for ``KWH``."""
    return user_credits(user_id) if asset == KWH else user_wallet(user_id, asset)


def platform_revenue(currency: str) -> AccountId:
    return AccountId(f"platform:revenue:{_currency(currency)}")


def stripe_clearing(currency: str) -> AccountId:
    return AccountId(f"stripe:clearing:{_currency(currency)}")


def pending_withdrawals(currency: str) -> AccountId:
    return AccountId(f"pending:withdrawals:{_currency(currency)}")


def investors_pool(site_id: str, currency: str) -> AccountId:
    return AccountId(f"investors:pool:{_id(site_id, 'site id')}:{_currency(currency)}")


def site_investment(site_id: str, currency: str) -> AccountId:
    """The money investors have put into a site (its capital account): only investments credit it."""
    return AccountId(f"site:{_id(site_id, 'site id')}:investment:{_currency(currency)}")


def market_escrow(user_id: str, currency: str) -> AccountId:
    """What a buyer's open market orders hold back (a BID's worst-case cost) until settlement or release."""
    return AccountId(f"user:{_id(user_id, 'user id')}:escrow:{_currency(currency)}")


def receivable(user_id: str, currency: str) -> AccountId:
    """What a user owes the platform (settlement charges their wallet could not cover, decision 0023): its
    balance goes negative by the debt, so it may go negative; money paid in later settles it."""
    return AccountId(f"receivable:{_id(user_id, 'user id')}:{_currency(currency)}")


def clearing_account(owner: str, side: str, asset: str) -> AccountId:
    """A settlement shard's clearing account, ``clearing:<runId>.<shard>:<side>:<ASSET>`` (decision 0028):
    the grid (``side="grid"``, any asset) or platform (``side="platform"``, a currency) legs of one shard of
    one run land here instead of on the shared ``grid:counterparty:*`` / ``platform:revenue:*`` heads, and
    one sweep per account at the end of the shard moves the balance there. Only that shard posts to it, so
    it is never contended; it may go negative in between (a reversal may come before the reposts)."""
    if side == "grid":
        if not is_asset(asset):
            raise InvalidTransaction(f"unknown asset {asset!r}", field="asset")
    elif side == "platform":
        _currency(asset)
    else:
        raise InvalidTransaction(f"clearing side {side!r} is not grid or platform", field="side")
    return AccountId(f"clearing:{_id(owner, 'clearing owner')}:{side}:{asset}")


def grid_counterparty(asset: str = KWH) -> AccountId:
    if not is_asset(asset):
        raise InvalidTransaction(f"unknown asset {asset!r}", field="asset")
    return AccountId(f"grid:counterparty:{asset}")


# --------------------------------------------------------------------------------------------------
# Entries and transactions
# --------------------------------------------------------------------------------------------------

TX_TYPES = frozenset(
    {
        "topup",
        "transfer",
        "withdrawal_request",
        "withdrawal_approve",
        "withdrawal_reject",
        "refund",
        "reversal",
        "sale",
        "energy_credit",
        "pool_payout",
        "investment",
        "reservation",
        "reservation_release",
        "settlement",
    }
)
"""Known transaction types; statements and metrics interpret entries by type, so unknown ones are refused."""

_TX_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,199}")
MetadataValue = str | int | bool | None


def _canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, ASCII. The same value always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Entry:
    """One leg of a transaction: ``amount`` (> 0 credit, < 0 debit) of ``asset`` on ``account``."""

    account: str
    asset: str
    amount: int

    def __post_init__(self) -> None:
        ref = parse_account(self.account)
        if self.asset != ref.asset:
            raise InvalidTransaction(f"{self.account} holds {ref.asset}, not {self.asset}", field="asset")
        if not _is_int(self.amount):
            raise InvalidTransaction(f"amount must be an int, not {type(self.amount).__name__}", field="amount")
        if self.amount == 0:
            raise InvalidTransaction(f"zero amount on {self.account}", field="amount")
        if abs(self.amount) > MAX_AMOUNT:
            raise InvalidTransaction(f"amount {self.amount} is beyond the {MAX_AMOUNT} limit", field="amount")

    def negated(self) -> Entry:
        return Entry(self.account, self.asset, -self.amount)


@dataclass(frozen=True)
class Transaction:
    """A balanced set of entries posted atomically, identified by an idempotency id.

    ``metadata`` holds flat JSON scalars (str, int, bool, None): what statements and support need to
    explain the movement (user, payment reference, original transaction). Floats are refused so the
    body hash is canonical.
    """

    id: str
    type: str
    entries: tuple[Entry, ...]
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    created_at: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _TX_ID_RE.fullmatch(self.id):
            raise InvalidTransaction(f"transaction id {self.id!r} is not valid", field="id")
        if self.type not in TX_TYPES:
            raise InvalidTransaction(f"unknown transaction type {self.type!r}", field="type")
        entries = tuple(self.entries)
        if not all(isinstance(e, Entry) for e in entries):
            raise InvalidTransaction("entries must be Entry objects", field="entries")
        if len(entries) < 2:
            raise InvalidTransaction("a transaction needs at least two entries", field="entries")
        if len(entries) > MAX_ENTRIES:
            raise InvalidTransaction(f"a transaction has at most {MAX_ENTRIES} entries", field="entries")
        totals: dict[str, int] = {}
        for entry in entries:
            totals[entry.asset] = totals.get(entry.asset, 0) + entry.amount
        unbalanced = {asset: total for asset, total in totals.items() if total}
        if unbalanced:
            raise InvalidTransaction(f"entries do not sum to zero per asset: {unbalanced}", field="entries")
        metadata = dict(self.metadata)
        for key, value in metadata.items():
            if not isinstance(key, str) or not key:
                raise InvalidTransaction("metadata keys must be non-empty strings", field="metadata")
            if value is not None and not isinstance(value, str | int | bool):
                raise InvalidTransaction(
                    f"metadata {key!r} must be a str, int, bool or None, not {type(value).__name__}", field="metadata"
                )
        if len(_canonical(metadata)) > 4096:
            raise InvalidTransaction("metadata is larger than 4 KiB", field="metadata")
        if not _is_int(self.created_at) or self.created_at < 0:
            raise InvalidTransaction("created_at must be epoch milliseconds", field="created_at")
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "metadata", MappingProxyType(metadata))

    def body(self) -> dict[str, Any]:
        """What the idempotency check compares: type, entries (as a multiset) and metadata.

        Entries are sorted, so two builds of the same movement that list legs in another order are the
        same body; ``created_at`` is left out because a retry is built later than the original.
        """
        return {
            "type": self.type,
            "entries": sorted([e.account, e.asset, e.amount] for e in self.entries),
            "metadata": dict(self.metadata),
        }

    def body_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`body`."""
        return hashlib.sha256(_canonical(self.body())).hexdigest()

    def amount_on(self, account: str) -> int:
        """Net amount this transaction moves on ``account`` (0 when it does not touch it)."""
        return sum(e.amount for e in self.entries if e.account == account)


@dataclass(frozen=True)
class PostResult:
    """The outcome of a post: the transaction as first posted, and whether this call was a replay."""

    transaction: Transaction
    replayed: bool


# --------------------------------------------------------------------------------------------------
# Builders: one function per money movement, so services never assemble entries by hand
# --------------------------------------------------------------------------------------------------


def _positive(amount: int, what: str = "amount") -> int:
    if not _is_int(amount) or amount <= 0:
        raise InvalidTransaction(f"{what} must be a positive integer number of minor units", field=what)
    return amount


def _meta(**values: MetadataValue) -> dict[str, MetadataValue]:
    """Metadata without the None values, so optional arguments left out don't change the body hash."""
    return {key: value for key, value in values.items() if value is not None}


def _time(created_at: int | None) -> int:
    return now_ms() if created_at is None else created_at


def topup(
    tx_id: str,
    user_id: str,
    amount: int,
    currency: str,
    *,
    payment_ref: str | None = None,
    created_at: int | None = None,
) -> Transaction:
    """Money paid in through Stripe: Stripe clearing -> the user's wallet."""
    _positive(amount)
    return Transaction(
        tx_id,
        "topup",
        (Entry(stripe_clearing(currency), currency, -amount), Entry(user_wallet(user_id, currency), currency, amount)),
        _meta(user_id=user_id, payment_ref=payment_ref),
        _time(created_at),
    )


def transfer(
    tx_id: str,
    from_user: str,
    to_user: str,
    amount: int,
    asset: str,
    *,
    memo: str | None = None,
    created_at: int | None = None,
) -> Transaction:
    """User to user, in a currency (wallet to wallet) or in kWh credits (credits to credits)."""
    _positive(amount)
    if from_user == to_user:
        raise InvalidTransaction("a transfer needs two different users", field="to_user")
    return Transaction(
        tx_id,
        "transfer",
        (Entry(user_account(from_user, asset), asset, -amount), Entry(user_account(to_user, asset), asset, amount)),
        _meta(from_user=from_user, to_user=to_user, memo=memo),
        _time(created_at),
    )


def withdrawal_request(
    tx_id: str, user_id: str, amount: int, currency: str, *, created_at: int | None = None
) -> Transaction:
    """Set money aside for a payout: wallet -> pending withdrawals (refused above the wallet balance)."""
    _positive(amount)
    return Transaction(
        tx_id,
        "withdrawal_request",
        (
            Entry(user_wallet(user_id, currency), currency, -amount),
            Entry(pending_withdrawals(currency), currency, amount),
        ),
        _meta(user_id=user_id),
        _time(created_at),
    )


def _withdrawal_parts(request: Transaction) -> tuple[str, str, int]:
    """(user id, currency, amount) of a withdrawal request transaction."""
    if request.type != "withdrawal_request":
        raise InvalidTransaction(f"{request.id} is a {request.type}, not a withdrawal request", field="withdrawal")
    (wallet,) = [e for e in request.entries if parse_account(e.account).kind == "wallet"]
    return parse_account(wallet.account).owner, wallet.asset, -wallet.amount


def withdrawal_approve(
    tx_id: str, request: Transaction, *, payout_ref: str | None = None, created_at: int | None = None
) -> Transaction:
    """The payout went out: pending withdrawals -> Stripe clearing, for exactly the requested amount."""
    user_id, currency, amount = _withdrawal_parts(request)
    return Transaction(
        tx_id,
        "withdrawal_approve",
        (Entry(pending_withdrawals(currency), currency, -amount), Entry(stripe_clearing(currency), currency, amount)),
        _meta(withdrawal_id=request.id, user_id=user_id, payout_ref=payout_ref),
        _time(created_at),
    )


def withdrawal_reject(
    tx_id: str, request: Transaction, *, reason: str | None = None, created_at: int | None = None
) -> Transaction:
    """The payout was refused: pending withdrawals -> back to the user's wallet."""
    user_id, currency, amount = _withdrawal_parts(request)
    return Transaction(
        tx_id,
        "withdrawal_reject",
        (
            Entry(pending_withdrawals(currency), currency, -amount),
            Entry(user_wallet(user_id, currency), currency, amount),
        ),
        _meta(withdrawal_id=request.id, user_id=user_id, reason=reason),
        _time(created_at),
    )


def refund(
    tx_id: str,
    original: Transaction,
    already_refunded: int,
    amount: int | None = None,
    *,
    refund_ref: str | None = None,
    created_at: int | None = None,
) -> Transaction:
    """Give (part of) a top-up back: the user's wallet -> Stripe clearing.

    ``amount`` defaults to everything still refundable; it may never exceed ``original amount -
    already_refunded`` (:class:`RefundExceedsOriginal`). The caller (the refunds service) sums the
    refunds already posted against ``original``; the wallet balance itself is checked when posting.
    """
    if original.type != "topup":
        raise InvalidTransaction(
            f"{original.id} is a {original.type}: only top-ups are refunded", field="transactionId"
        )
    (credit,) = [e for e in original.entries if e.amount > 0]
    if not _is_int(already_refunded) or not 0 <= already_refunded <= credit.amount:
        raise InvalidTransaction(f"already_refunded must be between 0 and {credit.amount}", field="already_refunded")
    remaining = credit.amount - already_refunded
    if amount is None:
        amount = remaining
        if amount == 0:
            raise RefundExceedsOriginal(f"{original.id} is already fully refunded", field="amount")
    _positive(amount)
    if amount > remaining:
        raise RefundExceedsOriginal(
            f"refund of {amount} exceeds the {remaining} still refundable of {original.id}", field="amount"
        )
    currency = credit.asset
    return Transaction(
        tx_id,
        "refund",
        (Entry(credit.account, currency, -amount), Entry(stripe_clearing(currency), currency, amount)),
        _meta(original_id=original.id, user_id=parse_account(credit.account).owner, refund_ref=refund_ref),
        _time(created_at),
    )


def reversal(
    tx_id: str, original: Transaction, *, reason: str | None = None, created_at: int | None = None
) -> Transaction:
    """Undo any transaction with a new one: the same entries negated. History is never edited."""
    if tx_id == original.id:
        raise InvalidTransaction("a reversal needs its own transaction id", field="id")
    return Transaction(
        tx_id,
        "reversal",
        tuple(e.negated() for e in original.entries),
        _meta(reverses=original.id, reversed_type=original.type, reason=reason),
        _time(created_at),
    )


def energy_credit(
    tx_id: str, user_id: str, wh: int, *, reference: str | None = None, created_at: int | None = None
) -> Transaction:
    """kWh credits issued for energy fed in (metered): grid counterparty -> the user's credits, in Wh."""
    _positive(wh, "wh")
    return Transaction(
        tx_id,
        "energy_credit",
        (Entry(grid_counterparty(KWH), KWH, -wh), Entry(user_credits(user_id), KWH, wh)),
        _meta(user_id=user_id, reference=reference),
        _time(created_at),
    )


def sale_transaction(
    tx_id: str,
    *,
    buyer_id: str,
    host_id: str,
    site_id: str,
    gross: int,
    currency: str,
    investor_shares: Mapping[str, Weight],
    host_pct: Weight = 45,
    investors_pct: Weight = 35,
    platform_pct: Weight = 20,
    no_investors: NoInvestors = "refuse",
    energy_wh: int | None = None,
    reference: str | None = None,
    created_at: int | None = None,
) -> Transaction:
    """A sale of energy from ``host_id``'s installation ``site_id``, as ONE balanced transaction.

    The buyer's wallet pays ``gross``; :func:`~gridshare.ledger.revenue_split.split_sale` divides it into
    the host's wallet, each investor's wallet (pro rata to ``investor_shares``; or the site's investor
    pool with ``no_investors="pool"``) and the platform's revenue. Parts of 0 (a tiny gross) get no entry.
    With ``energy_wh`` the same transaction also moves that many Wh of credits from the host to the
    buyer, so money and energy change hands atomically. Investors are paid straight into their wallets;
    a site with more than 46 investors exceeds :data:`MAX_ENTRIES` and must use the pool.
    """
    _positive(gross, "gross")
    _currency(currency)
    if buyer_id == host_id:
        raise InvalidTransaction("the buyer cannot be the host", field="buyer_id")
    try:
        split: SplitResult = split_sale(
            gross,
            investor_shares,
            host_pct=host_pct,
            investors_pct=investors_pct,
            platform_pct=platform_pct,
            no_investors=no_investors,
        )
    except InvalidTransaction:
        raise
    except ValueError as exc:
        raise InvalidTransaction(str(exc), field="split") from exc
    entries = [Entry(user_wallet(buyer_id, currency), currency, -gross)]
    if split.host:
        entries.append(Entry(user_wallet(host_id, currency), currency, split.host))
    for investor_id in sorted(split.investors):
        if split.investors[investor_id]:
            entries.append(Entry(user_wallet(investor_id, currency), currency, split.investors[investor_id]))
    if split.pool:
        entries.append(Entry(investors_pool(site_id, currency), currency, split.pool))
    if split.platform:
        entries.append(Entry(platform_revenue(currency), currency, split.platform))
    if energy_wh is not None:
        _positive(energy_wh, "energy_wh")
        entries += [Entry(user_credits(host_id), KWH, -energy_wh), Entry(user_credits(buyer_id), KWH, energy_wh)]
    return Transaction(
        tx_id,
        "sale",
        tuple(entries),
        _meta(
            buyer_id=buyer_id,
            host_id=host_id,
            site_id=site_id,
            split=f"{host_pct}/{investors_pct}/{platform_pct}",
            reference=reference,
        ),
        _time(created_at),
    )


def pool_payout(
    tx_id: str,
    site_id: str,
    currency: str,
    amount: int,
    investor_shares: Mapping[str, Weight],
    *,
    created_at: int | None = None,
) -> Transaction:
    """Pay (part of) a site's investor pool out to its investors, pro rata, by largest remainder."""
    _positive(amount)
    if not investor_shares:
        raise InvalidTransaction("a pool payout needs investors", field="investor_shares")
    try:
        parts = largest_remainder(amount, investor_shares)
    except ValueError as exc:
        raise InvalidTransaction(str(exc), field="investor_shares") from exc
    entries = [Entry(investors_pool(site_id, currency), currency, -amount)]
    entries += [Entry(user_wallet(i, currency), currency, parts[i]) for i in sorted(parts) if parts[i]]
    return Transaction(tx_id, "pool_payout", tuple(entries), _meta(site_id=site_id), _time(created_at))


def investment(
    tx_id: str,
    investor_id: str,
    site_id: str,
    amount: int,
    currency: str,
    *,
    investment_id: str | None = None,
    created_at: int | None = None,
) -> Transaction:
    """An investor buys into a site: the investor's wallet -> the site's investment account (refused above
    the wallet's balance). The site's shares are pro rata to what each investor has moved this way."""
    _positive(amount)
    return Transaction(
        tx_id,
        "investment",
        (
            Entry(user_wallet(investor_id, currency), currency, -amount),
            Entry(site_investment(site_id, currency), currency, amount),
        ),
        _meta(investor_id=investor_id, site_id=site_id, investment_id=investment_id),
        _time(created_at),
    )


def reservation(
    tx_id: str, user_id: str, amount: int, currency: str, *, order_id: str, created_at: int | None = None
) -> Transaction:
    """A market BID holds its worst-case cost: the user's wallet -> their market escrow (refused above the
    wallet's balance, as a withdrawal request is)."""
    _positive(amount)
    return Transaction(
        tx_id,
        "reservation",
        (
            Entry(user_wallet(user_id, currency), currency, -amount),
            Entry(market_escrow(user_id, currency), currency, amount),
        ),
        _meta(user_id=user_id, order_id=order_id),
        _time(created_at),
    )


def reservation_release(
    tx_id: str,
    user_id: str,
    amount: int,
    currency: str,
    *,
    order_id: str,
    reason: str,
    created_at: int | None = None,
) -> Transaction:
    """(Part of) a reservation goes back: the user's market escrow -> their wallet (a cancelled order, or
    what clearing did not fill)."""
    _positive(amount)
    return Transaction(
        tx_id,
        "reservation_release",
        (
            Entry(market_escrow(user_id, currency), currency, -amount),
            Entry(user_wallet(user_id, currency), currency, amount),
        ),
        _meta(user_id=user_id, order_id=order_id, reason=reason),
        _time(created_at),
    )


# --------------------------------------------------------------------------------------------------
# Hash chains
# --------------------------------------------------------------------------------------------------

GENESIS_HASH = "0" * 64
"""The ``previous_hash`` of an account's first entry."""


def chain_hash(previous_hash: str, entry: Entry, transaction_id: str, sequence: int) -> str:
    """sha256 (hex) of the canonical JSON of one chained entry and the hash of the one before it."""
    return hashlib.sha256(
        _canonical(
            {
                "prev": previous_hash,
                "account": entry.account,
                "asset": entry.asset,
                "amount": entry.amount,
                "tx": transaction_id,
                "seq": sequence,
            }
        )
    ).hexdigest()


@dataclass(frozen=True)
class ChainedEntry:
    """An entry as stored in its account's chain. ``balance_after`` is the account balance after it.

    ``created_at`` and ``tx_type`` are copied from the transaction for statements; they are not part of
    the hash (the transaction record, compared by :meth:`Ledger.verify`, is their source of truth).
    """

    account: str
    asset: str
    amount: int
    transaction_id: str
    sequence: int
    previous_hash: str
    hash: str
    balance_after: int
    created_at: int = 0
    tx_type: str = ""

    @property
    def entry(self) -> Entry:
        return Entry(self.account, self.asset, self.amount)


@dataclass(frozen=True)
class ChainProblem:
    """Something :func:`verify_chain` or a ledger's ``verify`` found wrong."""

    account: str
    asset: str
    sequence: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.account} {self.asset}" + (f" #{self.sequence}" if self.sequence is not None else "")
        return f"{where}: {self.message}"


def verify_chain(
    entries_in_order: Sequence[ChainedEntry],
    *,
    start_sequence: int = 1,
    start_hash: str = GENESIS_HASH,
    start_balance: int = 0,
) -> list[ChainProblem]:
    """Check one account's chain: consecutive sequences, linked and recomputed hashes, running balances.

    Starts from the genesis by default; pass the ``start_*`` of a known-good entry to check a tail.
    Returns every problem found (empty = the chain is intact).
    """
    problems: list[ChainProblem] = []
    if not entries_in_order:
        return problems
    account, asset = entries_in_order[0].account, entries_in_order[0].asset
    try:
        negative_ok = may_go_negative(account)
    except InvalidTransaction:
        problems.append(ChainProblem(account, asset, None, "not a ledger account id"))
        negative_ok = True
    expected_seq, previous, balance = start_sequence, start_hash, start_balance
    for index, item in enumerate(entries_in_order):

        def problem(message: str, item: ChainedEntry = item) -> None:
            problems.append(ChainProblem(account, asset, item.sequence, message))

        if (item.account, item.asset) != (account, asset):
            problem(f"entry of {item.account} {item.asset} in this chain")
        if item.sequence != expected_seq:
            problem(f"sequence {item.sequence}, expected {expected_seq}")
        if item.previous_hash != previous:
            problem("previous hash does not match the entry before")
        try:
            recomputed = chain_hash(item.previous_hash, item.entry, item.transaction_id, item.sequence)
        except InvalidTransaction as exc:
            problem(f"malformed entry: {exc.detail}")
            recomputed = ""
        if recomputed != item.hash:
            problem("hash does not match the entry's content")
        balance += item.amount
        if item.balance_after != balance:
            problem(f"balance_after {item.balance_after}, the entries sum to {balance}")
        # A transaction is atomic: only the balance after its last entry on this account must be >= 0
        # (a debit listed before a credit on the same account may dip below zero in between).
        following = entries_in_order[index + 1] if index + 1 < len(entries_in_order) else None
        if balance < 0 and not negative_ok and (following is None or following.transaction_id != item.transaction_id):
            problem(f"balance {balance} is negative")
        expected_seq, previous = item.sequence + 1, item.hash
    return problems


class AccountHead(NamedTuple):
    """The end of an account's chain: what the next entry links to. ``sequence == 0``: no entry yet."""

    sequence: int = 0
    hash: str = GENESIS_HASH
    balance: int = 0


def net_by_account(tx: Transaction) -> dict[tuple[str, str], int]:
    """Net amount per (account, asset), in the order accounts first appear: one balance update each."""
    nets: dict[tuple[str, str], int] = {}
    for entry in tx.entries:
        key = (entry.account, entry.asset)
        nets[key] = nets.get(key, 0) + entry.amount
    return nets


def check_funds(tx: Transaction, heads: Mapping[tuple[str, str], AccountHead]) -> None:
    """Raise :class:`InsufficientFunds` for the first account the transaction would take below zero.

    Nets per account, so a transaction that debits and credits the same account is judged on the net.
    """
    for (account, asset), net in net_by_account(tx).items():
        balance = heads.get((account, asset), AccountHead()).balance
        if net < 0 and balance + net < 0 and not may_go_negative(account):
            raise InsufficientFunds(account, asset, balance, -net)


def build_postings(tx: Transaction, heads: Mapping[tuple[str, str], AccountHead]) -> list[ChainedEntry]:
    """The chained entries ``tx`` appends, in entry order, linked to each account's current head.

    Both ledgers use this one function, so the same history yields the same hashes in memory and in
    DynamoDB (the adapter's tests compare them).
    """
    current = {key: heads.get(key, AccountHead()) for key in net_by_account(tx)}
    out: list[ChainedEntry] = []
    for entry in tx.entries:
        key = (entry.account, entry.asset)
        head = current[key]
        sequence = head.sequence + 1
        digest = chain_hash(head.hash, entry, tx.id, sequence)
        balance = head.balance + entry.amount
        out.append(
            ChainedEntry(
                entry.account,
                entry.asset,
                entry.amount,
                tx.id,
                sequence,
                head.hash,
                digest,
                balance,
                tx.created_at,
                tx.type,
            )
        )
        current[key] = AccountHead(sequence, digest, balance)
    return out


def verify_transactions(
    transactions: Iterable[Transaction], chains: Mapping[tuple[str, str], Sequence[ChainedEntry]]
) -> list[ChainProblem]:
    """Cross-check transactions and chains: every entry of every transaction is in its chain exactly once,
    every chained entry belongs to a posted transaction, and every asset sums to zero over all accounts."""
    problems: list[ChainProblem] = []
    expected: dict[tuple[str, str, str, int], int] = {}
    for tx in transactions:
        for e in tx.entries:
            key = (tx.id, e.account, e.asset, e.amount)
            expected[key] = expected.get(key, 0) + 1
    found: dict[tuple[str, str, str, int], int] = {}
    totals: dict[str, int] = {}
    for (_account, asset), chain in chains.items():
        for item in chain:
            key = (item.transaction_id, item.account, item.asset, item.amount)
            found[key] = found.get(key, 0) + 1
        if chain:
            totals[asset] = totals.get(asset, 0) + chain[-1].balance_after
    for key in sorted(set(expected) | set(found)):
        if expected.get(key, 0) != found.get(key, 0):
            tx_id, account, asset, amount = key
            problems.append(
                ChainProblem(
                    account,
                    asset,
                    None,
                    f"transaction {tx_id} has {expected.get(key, 0)} entries of {amount}, "
                    f"the chain {found.get(key, 0)}",
                )
            )
    for asset, total in sorted(totals.items()):
        if total:
            problems.append(ChainProblem("*", asset, None, f"balances sum to {total}, not 0"))
    return problems


# --------------------------------------------------------------------------------------------------
# The reference ledger
# --------------------------------------------------------------------------------------------------


class LedgerPort(Protocol):
    """What services need from a ledger; the in-memory :class:`Ledger` and the DynamoDB store provide it."""

    def post(self, tx: Transaction) -> PostResult: ...

    def balance(self, account: str, asset: str | None = None) -> int: ...

    def entries(self, account: str, asset: str | None = None) -> list[ChainedEntry]: ...

    def transaction(self, tx_id: str) -> Transaction | None: ...

    def verify(self) -> list[ChainProblem]: ...


class Ledger:
    """In-memory ledger with the exact posting semantics of the DynamoDB store.

    It is the reference model (unit tests, the adapter's differential tests, the benchmark) and is
    small on purpose: a post checks idempotency first, then funds, then appends the postings, so a
    refused transaction changes nothing.
    """

    def __init__(self) -> None:
        self._transactions: dict[str, tuple[Transaction, str]] = {}
        self._chains: dict[tuple[str, str], list[ChainedEntry]] = {}

    def post(self, tx: Transaction) -> PostResult:
        digest = tx.body_hash()
        stored = self._transactions.get(tx.id)
        if stored is not None:
            if stored[1] != digest:
                raise DuplicateTransactionConflict(tx.id)
            return PostResult(stored[0], replayed=True)
        heads = {key: self.head(*key) for key in net_by_account(tx)}
        check_funds(tx, heads)
        for item in build_postings(tx, heads):
            self._chains.setdefault((item.account, item.asset), []).append(item)
        self._transactions[tx.id] = (tx, digest)
        return PostResult(tx, replayed=False)

    def head(self, account: str, asset: str | None = None) -> AccountHead:
        chain = self._chains.get((account, asset or account_asset(account)))
        if not chain:
            return AccountHead()
        last = chain[-1]
        return AccountHead(last.sequence, last.hash, last.balance_after)

    def balance(self, account: str, asset: str | None = None) -> int:
        return self.head(account, asset).balance

    def balances(self) -> dict[tuple[str, str], int]:
        """Every account that has an entry -> its balance."""
        return {key: chain[-1].balance_after for key, chain in self._chains.items() if chain}

    def entries(self, account: str, asset: str | None = None) -> list[ChainedEntry]:
        return list(self._chains.get((account, asset or account_asset(account)), ()))

    def transaction(self, tx_id: str) -> Transaction | None:
        stored = self._transactions.get(tx_id)
        return stored[0] if stored else None

    def transactions(self) -> list[Transaction]:
        return [tx for tx, _ in self._transactions.values()]

    def verify(self) -> list[ChainProblem]:
        """Every chain intact, every transaction's entries chained exactly once, every asset sums to 0."""
        problems: list[ChainProblem] = []
        for chain in self._chains.values():
            problems += verify_chain(chain)
        problems += verify_transactions(self.transactions(), self._chains)
        return problems
