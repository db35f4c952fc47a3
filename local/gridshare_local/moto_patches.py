"""Fixes for moto behaviour that would make the local stack unusable, applied by the local stack only.

DynamoDB TransactWriteItems: moto deep-copies every table a transaction touches (once per action) so it
can roll back, which makes each write O(size of the table): ingest slowed to a few readings per second
after a few thousand readings. Here the table copy is skipped and, instead, only the items the
transaction touches are snapshotted and restored when it is cancelled. Atomicity is the same; the cost
is O(items in the transaction).
"""

from __future__ import annotations

import copy
import types
from typing import Any

_installed = False


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
