"""Fixes for moto behaviour that would make the local stack unusable, applied by the local stack only.

DynamoDB TransactWriteItems: moto deep-copies every table a transaction touches (once per action) so it
can roll back, which makes each write O(size of the table): ingest slowed to a few readings per second
after a few thousand readings. Here the table copy is skipped and, instead, only the items the
transaction touches are snapshotted and restored when it is cancelled. Atomicity is the same; the cost
is O(items in the transaction).

Cognito tokens on the stack's clock: moto stamps `iat`/`exp` with the real `time.time()`, while the
platform checks them (and compares `iat` with a revocation second) on the kernel clock, which the stack
can move forward (`gridshare clock advance`). Moto's Cognito module reads the kernel clock instead, so a
token issued after an advance is issued "now" and expires an hour of stack time later, as on AWS.
"""

from __future__ import annotations

import copy
import types
from typing import Any

_installed = False
_stack_time_installed = False


class _StackTime(types.ModuleType):
    """The `time` module, except that `time()` is the kernel clock's now (seconds)."""

    def __init__(self) -> None:
        super().__init__("time")

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)

    @staticmethod
    def time() -> float:
        from gridshare.kernel.clock import now_s

        return now_s()


def install_stack_time() -> None:
    """Moto's Cognito issues tokens on the kernel clock (the stack's offset included)."""
    global _stack_time_installed
    if _stack_time_installed:
        return
    import moto.cognitoidp.models as cognito_models

    cognito_models.time = _StackTime()  # type: ignore[assignment]
    _stack_time_installed = True


def install_fast_transactions() -> None:
    global _installed
    if _installed:
        return
    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.exceptions import MockValidationException, TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def deepcopy_except_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    # Only moto's DynamoDB backend module sees this `copy`; its one other deepcopy (of an item) is kept.
    ddb_models.copy = types.SimpleNamespace(deepcopy=deepcopy_except_tables, copy=copy.copy)  # type: ignore[assignment]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            name = op.get("TableName")
            if not name or name not in self.tables:
                continue
            table = self.tables[name]
            if "Key" in op:
                key = op["Key"]
            else:
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            try:
                current = self.get_item(name, key)
            except Exception:  # noqa: S112 - an invalid key: moto raises the proper error below
                continue
            snapshots.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            original(self, transact_items)
        except (TransactionCanceledException, MockValidationException):
            for name, key, attributes in reversed(snapshots):
                if attributes is None:
                    if self.get_item(name, key) is not None:
                        self.delete_item(name, key)
                else:
                    self.put_item(name, attributes)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _installed = True
