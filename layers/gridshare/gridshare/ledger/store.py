"""The ledger in DynamoDB: one TransactWriteItems per ledger transaction, same semantics as the in-memory one.

A post reads the head of every account it touches (consistent reads), checks funds and builds the chained
entries with the domain's own :func:`~gridshare.ledger.core.check_funds` and
:func:`~gridshare.ledger.core.build_postings`, then writes, atomically:

- a conditional put of the transaction item (``attribute_not_exists(id)``, with the body hash): the
  idempotency key. A retry finds it and returns the first result; another body under the same id is
  refused;
- per account, ONE update (DynamoDB allows one action per item per transaction, so entries on the same
  account are merged): ``ADD balance :net, seq :n`` and ``SET head_hash``, conditioned on ``seq`` still
  being the one read (so a concurrent post to the account cancels this one, which re-reads and retries)
  and, for accounts that may not go negative, on ``balance >= :needed`` (DynamoDB enforces no-overdraft
  even if the read were stale);
- one put per entry, append-only (``attribute_not_exists``), at ``ACCT#<account>#<asset>`` / seq.

Failures: a cancelled transaction is read by its reasons (in item order): the transaction put failed ->
replay or conflict; an account or entry condition failed -> re-read and retry (a few times, then
:class:`LedgerBusy`). Connection errors and throttling are retried by the SDK (standard mode, 5
attempts); when those run out, :class:`LedgerUnavailable` tells the caller the outcome is unknown and a
retry with the same transaction id is safe. A response lost after the write was applied is the same
case: the retry finds the transaction item and reports ``replayed=True``; nothing is posted twice.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel.aws import client
from gridshare.kernel.clock import now_ms
from gridshare.kernel.deadline import NEVER, Deadline
from gridshare.kernel.errors import Unavailable
from gridshare.ledger.core import (
    AccountHead,
    ChainedEntry,
    ChainProblem,
    DuplicateTransactionConflict,
    Entry,
    InsufficientFunds,
    InvalidTransaction,
    PostResult,
    Transaction,
    account_asset,
    build_postings,
    check_funds,
    may_go_negative,
    net_by_account,
    verify_chain,
    verify_transactions,
)
from gridshare.ledger.history import HistoryPage, RecentEntries, entry_page, merge_pages, recent_entries
from gridshare.ledger.models import LedgerAccountModel, LedgerEntryModel, LedgerTransactionModel, entry_pk

__all__ = ["LedgerBusy", "LedgerStore", "LedgerUnavailable"]

# Errors after which the write may or may not have been applied, and a retry with the same id is safe.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)


# Cancellation reasons that mean "not now" rather than "not like this" (nothing was applied).
_CANCELLED_BY_CAPACITY = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})

_BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
_ENTRIES_PER_QUERY = 100  # a listing reads an account's chain a query page at a time, and stops early


class LedgerUnavailable(Unavailable):
    """DynamoDB did not confirm the write (503): it may or may not be applied; retry with the same id."""


class LedgerBusy(Unavailable):
    """The accounts kept changing under this post (503): too much contention; retry with the same id."""


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass
class LedgerStore:
    """DynamoDB ledger. ``max_attempts`` bounds the re-read-and-retry loop on concurrent posts."""

    max_attempts: int = 5
    clock: Callable[[], int] = now_ms
    deadline: Deadline = NEVER
    work: str = "this read"

    @property
    def _ddb(self) -> Any:
        ddb = client("dynamodb")
        return ddb if self.deadline.at_ms is None else _WithinDeadline(ddb, self.deadline, self.work)

    def within(self, deadline: Deadline, work: str) -> LedgerStore:
        """This store for one request: once ``deadline`` has passed, its next storage read raises
        :class:`errors.Unavailable` (503) naming ``work``, instead of running past the function's timeout.
        For reads that cannot answer in part (a statement's opening balance, an audit, a report)."""
        bounded = copy.copy(self)
        bounded.deadline, bounded.work = deadline, work
        return bounded

    # ------------------------------------------------------------ post
    def post(self, tx: Transaction) -> PostResult:
        """Post ``tx`` exactly once; see the module docstring for what each failure means."""
        digest = tx.body_hash()
        try:
            for _ in range(self.max_attempts):
                heads = self._read_heads(list(net_by_account(tx)))
                try:
                    check_funds(tx, heads)
                except InsufficientFunds:
                    # A replay of a transaction that was affordable when first posted is still a replay.
                    stored = self._stored(tx.id)
                    if stored is not None:
                        return self._replay(stored, digest)
                    raise
                outcome = self._write(tx, digest, heads)
                if outcome is not None:
                    return outcome
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES:
                raise LedgerUnavailable(f"transaction {tx.id} not confirmed; retry with the same id") from exc
            raise
        except BotoCoreError as exc:  # connection errors, timeouts: after the SDK's own retries
            raise LedgerUnavailable(f"transaction {tx.id} not confirmed; retry with the same id") from exc
        raise LedgerBusy(f"transaction {tx.id}: accounts changed {self.max_attempts} times; retry with the same id")

    def _write(self, tx: Transaction, digest: str, heads: dict[tuple[str, str], AccountHead]) -> PostResult | None:
        """One TransactWriteItems. Returns the result, or None when a concurrent post moved a head."""
        try:
            self._ddb.transact_write_items(TransactItems=self._actions(tx, digest, heads))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons") or []]
            if codes and codes[0] == "ConditionalCheckFailed":
                stored = self._stored(tx.id)
                if stored is not None:
                    return self._replay(stored, digest)
                return None  # the item vanished between the write and the read: only a test does that
            if "TransactionConflict" in codes or "ConditionalCheckFailed" in codes[1:]:
                return None  # another post moved a head (or holds an item): re-read and retry
            if any(code in _CANCELLED_BY_CAPACITY for code in codes):
                raise LedgerUnavailable(f"transaction {tx.id} throttled; retry with the same id") from exc
            raise
        return PostResult(tx, replayed=False)

    def _actions(self, tx: Transaction, digest: str, heads: dict[tuple[str, str], AccountHead]) -> list[dict[str, Any]]:
        postings = build_postings(tx, heads)
        now = self.clock()
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": LedgerTransactionModel.Meta.table_name,
                    "Item": {
                        "id": _s(tx.id),
                        "type": _s(tx.type),
                        "body_hash": _s(digest),
                        "entries": _s(_json([[e.account, e.asset, e.amount] for e in tx.entries])),
                        "metadata": _s(_json(dict(tx.metadata))),
                        "created_at": _n(tx.created_at),
                    },
                    "ConditionExpression": "attribute_not_exists(#id)",
                    "ExpressionAttributeNames": {"#id": "id"},
                }
            }
        ]
        last: dict[tuple[str, str], ChainedEntry] = {}
        counts: dict[tuple[str, str], int] = {}
        for item in postings:
            key = (item.account, item.asset)
            last[key] = item
            counts[key] = counts.get(key, 0) + 1
        for (account, asset), net in net_by_account(tx).items():
            head = heads[(account, asset)]
            names = {"#b": "balance", "#s": "seq", "#h": "head_hash", "#u": "updated_at"}
            values: dict[str, Any] = {
                ":amt": _n(net),
                ":n": _n(counts[(account, asset)]),
                ":h": _s(last[(account, asset)].hash),
                ":u": _n(now),
            }
            if head.sequence == 0:
                names["#a"] = "account"
                condition = "attribute_not_exists(#a)"
            else:
                values[":expected"] = _n(head.sequence)
                condition = "#s = :expected"
                if net < 0 and not may_go_negative(account):
                    values[":needed"] = _n(-net)
                    condition += " AND #b >= :needed"
            actions.append(
                {
                    "Update": {
                        "TableName": LedgerAccountModel.Meta.table_name,
                        "Key": {"account": _s(account), "asset": _s(asset)},
                        "UpdateExpression": "ADD #b :amt, #s :n SET #h = :h, #u = :u",
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        for item in postings:
            actions.append(
                {
                    "Put": {
                        "TableName": LedgerEntryModel.Meta.table_name,
                        "Item": {
                            "pk": _s(entry_pk(item.account, item.asset)),
                            "seq": _n(item.sequence),
                            "account": _s(item.account),
                            "asset": _s(item.asset),
                            "amount": _n(item.amount),
                            "tx_id": _s(item.transaction_id),
                            "tx_type": _s(item.tx_type),
                            "prev_hash": _s(item.previous_hash),
                            "hash": _s(item.hash),
                            "balance_after": _n(item.balance_after),
                            "created_at": _n(item.created_at),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        return actions

    def _replay(self, stored: tuple[Transaction, str], digest: str) -> PostResult:
        tx, stored_digest = stored
        if stored_digest != digest:
            raise DuplicateTransactionConflict(tx.id)
        return PostResult(tx, replayed=True)

    def _read_heads(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], AccountHead]:
        """Heads of the given accounts with consistent reads; a missing account is the genesis head."""
        heads = {key: AccountHead() for key in keys}
        for item in self._account_items(keys):
            key = (item["account"]["S"], item["asset"]["S"])
            heads[key] = AccountHead(int(item["seq"]["N"]), item["head_hash"]["S"], int(item["balance"]["N"]))
        return heads

    def _account_items(self, keys: Sequence[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """The account items of ``keys`` that exist: consistent BatchGetItems, unprocessed keys retried."""
        table = LedgerAccountModel.Meta.table_name
        for chunk in range(0, len(keys), _BATCH_GET_KEYS):
            request: dict[str, Any] = {
                table: {
                    "Keys": [
                        {"account": _s(account), "asset": _s(asset)}
                        for account, asset in keys[chunk : chunk + _BATCH_GET_KEYS]
                    ],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._ddb.batch_get_item(RequestItems=request)
                yield from response.get("Responses", {}).get(table, [])
                request = response.get("UnprocessedKeys") or {}

    def _stored(self, tx_id: str) -> tuple[Transaction, str] | None:
        item = self._ddb.get_item(
            TableName=LedgerTransactionModel.Meta.table_name, Key={"id": _s(tx_id)}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return _transaction_from_item(item), item["body_hash"]["S"]

    # ------------------------------------------------------------ reads
    def transaction(self, tx_id: str) -> Transaction | None:
        stored = self._stored(tx_id)
        return stored[0] if stored else None

    def head(self, account: str, asset: str | None = None) -> AccountHead:
        key = (account, asset or account_asset(account))
        return self._read_heads([key])[key]

    def balance(self, account: str, asset: str | None = None) -> int:
        return self.head(account, asset).balance

    def balances(self) -> dict[tuple[str, str], int]:
        """Every account -> its balance (a scan: for verification and admin metrics, not per request)."""
        return {
            (item["account"]["S"], item["asset"]["S"]): int(item["balance"]["N"])
            for item in self._scan(LedgerAccountModel.Meta.table_name)
        }

    def balances_of(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Those of the given (account, asset) that exist -> balance, read consistently (a user's wallets)."""
        return {
            (item["account"]["S"], item["asset"]["S"]): int(item["balance"]["N"]) for item in self._account_items(keys)
        }

    def entries(self, account: str, asset: str | None = None) -> list[ChainedEntry]:
        """An account's whole chain, oldest first (consistent reads)."""
        return list(self._chain(account, asset or account_asset(account), newest_first=False))

    def history(
        self,
        below: Mapping[str, int | None],
        *,
        limit: int,
        tx_type: str | None = None,
        start: int | None = None,
        end: int | None = None,
        deadline: Deadline = NEVER,
    ) -> HistoryPage:
        """One page of a listing over several accounts, newest first (:mod:`gridshare.ledger.history`).

        ``below`` names each account to read and the sequence to continue below (None: from its newest
        entry), as the previous page's ``HistoryPage.below`` returned it. Reads at most ``limit`` + 1
        matching entries per account, and no further back than ``start`` allows; past ``deadline``, each
        account reads at most one more entry (its page is then stopped: :func:`entry_page`).
        """
        pages = [
            entry_page(
                account,
                self._chain(account, account_asset(account), newest_first=True, below=seq, tx_type=tx_type),
                limit=limit,
                start=start,
                end=end,
                deadline=deadline,
            )
            for account, seq in below.items()
        ]
        return merge_pages(pages, limit)

    def entries_since(self, account: str, since: int) -> RecentEntries:
        """The account's balance and its entries stamped at or after ``since``, newest first, in one read
        from the head back to a little before ``since`` (a statement's day)."""
        return recent_entries(self._chain(account, account_asset(account), newest_first=True), since)

    def transactions(self, start: int | None = None, end: int | None = None) -> Iterator[Transaction]:
        """Every transaction created in [start, end) (either bound optional), in no order: a scan, for admin
        reports, not a request path."""
        conditions: list[str] = []
        values: dict[str, Any] = {}
        if start is not None:
            conditions.append("created_at >= :start")
            values[":start"] = _n(start)
        if end is not None:
            conditions.append("created_at < :end")
            values[":end"] = _n(end)
        where = {"FilterExpression": " AND ".join(conditions), "ExpressionAttributeValues": values} if values else {}
        for item in self._scan(LedgerTransactionModel.Meta.table_name, **where):
            yield _transaction_from_item(item)

    def _chain(
        self,
        account: str,
        asset: str,
        *,
        newest_first: bool,
        below: int | None = None,
        tx_type: str | None = None,
    ) -> Iterator[ChainedEntry]:
        """An account's chain in order (optionally below a sequence, of one transaction type), read lazily a
        query page at a time with consistent reads: a caller that stops early reads no further."""
        key = "pk = :pk" + (" AND #seq < :below" if below is not None else "")
        kwargs: dict[str, Any] = {
            "TableName": LedgerEntryModel.Meta.table_name,
            "KeyConditionExpression": key,
            "ExpressionAttributeValues": {":pk": _s(entry_pk(account, asset))},
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if below is not None:
            kwargs["ExpressionAttributeNames"] = {"#seq": "seq"}
            kwargs["ExpressionAttributeValues"][":below"] = _n(below)
        if newest_first:
            kwargs["Limit"] = _ENTRIES_PER_QUERY
        if tx_type:
            kwargs["FilterExpression"] = "tx_type = :type"
            kwargs["ExpressionAttributeValues"][":type"] = _s(tx_type)
        while True:
            result = self._ddb.query(**kwargs)
            for item in result.get("Items", []):
                yield _entry_from_item(item)
            if "LastEvaluatedKey" not in result:
                return
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    # ------------------------------------------------------------ verification
    def verify_account(self, account: str, asset: str | None = None) -> list[ChainProblem]:
        """Walk one account's chain: hashes, sequences, running balances, and the account item's head."""
        return self._verify_account(account, asset or account_asset(account))[0]

    def _verify_account(self, account: str, asset: str) -> tuple[list[ChainProblem], list[ChainedEntry]]:
        chain = self.entries(account, asset)
        problems = verify_chain(chain)
        head = self.head(account, asset)
        computed = sum(item.amount for item in chain)
        if head.balance != computed:
            problems.append(
                ChainProblem(account, asset, None, f"balance {head.balance}, the entries sum to {computed}")
            )
        last_seq, last_hash = (chain[-1].sequence, chain[-1].hash) if chain else (0, AccountHead().hash)
        if (head.sequence, head.hash) != (last_seq, last_hash):
            problems.append(
                ChainProblem(account, asset, None, f"account head #{head.sequence} is not the chain's end #{last_seq}")
            )
        return problems, chain

    def verify(self) -> list[ChainProblem]:
        """The whole ledger (``gridshare ledger verify``): every account's chain and head, every transaction
        against the chains, every asset summing to zero. Full scans: an audit, not a request path."""
        problems: list[ChainProblem] = []
        chains: dict[tuple[str, str], list[ChainedEntry]] = {}
        for account, asset in self.balances():
            found, chains[(account, asset)] = self._verify_account(account, asset)
            problems += found
        for item in self._scan(LedgerEntryModel.Meta.table_name):  # entries whose account item is missing
            key = (item["account"]["S"], item["asset"]["S"])
            if key not in chains:
                chains[key] = self.entries(*key)
                problems += verify_chain(chains[key])
                problems.append(ChainProblem(key[0], key[1], None, "entries exist but the account item is missing"))
        transactions: list[Transaction] = []
        for item in self._scan(LedgerTransactionModel.Meta.table_name):
            try:
                transactions.append(_transaction_from_item(item))
            except (InvalidTransaction, ValueError, KeyError) as exc:
                problems.append(ChainProblem("*", "*", None, f"transaction {item.get('id')} is malformed: {exc}"))
        return problems + verify_transactions(transactions, chains)

    def _scan(self, table: str, **where: Any) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True, **where}
        while True:
            result = self._ddb.scan(**kwargs)
            yield from result.get("Items", [])
            if "LastEvaluatedKey" not in result:
                return
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]


class _WithinDeadline:
    """A DynamoDB client whose reads stop at a deadline (every read once started runs to its end)."""

    def __init__(self, ddb: Any, deadline: Deadline, work: str) -> None:
        self._ddb, self._deadline, self._work = ddb, deadline, work

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._ddb, name)
        if name not in ("query", "scan", "get_item", "batch_get_item"):
            return call

        def bounded(**kwargs: Any) -> Any:
            if self._deadline.passed():
                raise Unavailable(
                    f"{self._work} needs more than one request's time: ask for less (a shorter range, a "
                    "more recent date), or run it as a job"
                )
            return call(**kwargs)

        return bounded


def _transaction_from_item(item: dict[str, Any]) -> Transaction:
    return Transaction(
        item["id"]["S"],
        item["type"]["S"],
        tuple(Entry(account, asset, amount) for account, asset, amount in json.loads(item["entries"]["S"])),
        json.loads(item["metadata"]["S"]),
        int(item["created_at"]["N"]),
    )


def _entry_from_item(item: dict[str, Any]) -> ChainedEntry:
    return ChainedEntry(
        account=item["account"]["S"],
        asset=item["asset"]["S"],
        amount=int(item["amount"]["N"]),
        transaction_id=item["tx_id"]["S"],
        sequence=int(item["seq"]["N"]),
        previous_hash=item["prev_hash"]["S"],
        hash=item["hash"]["S"],
        balance_after=int(item["balance_after"]["N"]),
        created_at=int(item["created_at"]["N"]),
        tx_type=item["tx_type"]["S"],
    )
