"""DynamoDB storage of the grid's nodes and connections; PynamoDB errors become kernel errors here.

Invariants (each kept by one conditional write or one transaction, so concurrent requests cannot break them):
- a connection's endpoints exist when it is written: the transaction adds 1 to each endpoint's ``degree``
  on condition the node exists;
- one connection per pair of nodes, in either direction: the transaction also writes the pair's
  companion item (``pair#<a>|<b>``, ids sorted) on condition it is absent;
- a node with connections is never deleted: the delete is conditioned on ``degree = 0``; deleting a
  connection removes its pair item and subtracts 1 from each endpoint's degree in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from gridshare.grid.models import GridConnectionModel, GridNodeModel
from gridshare.grid.topology import pair_key
from gridshare.kernel import errors
from gridshare.kernel.settings import get_settings
from gridshare.kernel.tables import failed_condition

__all__ = ["GridStore", "NodeHasConnections"]

PAIR_PREFIX = "pair#"


class NodeHasConnections(errors.Conflict):
    """The node has connections; delete them first (409)."""


def _connection() -> Connection:
    return Connection(region=get_settings().region)


@dataclass
class GridStore:
    # ------------------------------------------------------------ nodes
    def node(self, node_id: str) -> GridNodeModel:
        try:
            return GridNodeModel.get(node_id, consistent_read=True)
        except DoesNotExist:
            raise errors.NotFound("No such grid node.") from None

    def node_exists(self, node_id: str) -> bool:
        try:
            GridNodeModel.get(node_id, consistent_read=True, attributes_to_get=["id"])
        except DoesNotExist:
            return False
        return True

    def put_new_node(self, node: GridNodeModel) -> None:
        try:
            node.save(condition=GridNodeModel.id.does_not_exist())
        except PutError as exc:
            if failed_condition(exc):
                raise errors.Conflict("A grid node with this id exists.") from None
            raise

    def replace_node(self, node: GridNodeModel, fields: dict[str, Any], at: int) -> GridNodeModel:
        actions = [getattr(GridNodeModel, name).set(value) for name, value in fields.items()]
        actions.append(GridNodeModel.updated_at.set(at))
        try:
            node.update(actions=actions, condition=GridNodeModel.id.exists())
        except UpdateError as exc:
            if failed_condition(exc):  # the node went away meanwhile
                raise errors.NotFound("No such grid node.") from None
            raise
        return node

    def delete_node(self, node_id: str) -> None:
        node = self.node(node_id)
        try:
            node.delete(condition=GridNodeModel.id.exists() & (GridNodeModel.degree == 0))
        except DeleteError as exc:
            if failed_condition(exc):
                if self.node_exists(node_id):
                    raise NodeHasConnections(
                        "The node has connections; delete them first.",
                        errors=[errors.FieldError("id", "the node has connections")],
                    ) from None
                raise errors.NotFound("No such grid node.") from None
            raise

    def nodes_page(
        self, node_type: str | None, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[GridNodeModel], dict[str, Any] | None]:
        condition = (GridNodeModel.type == node_type) if node_type is not None else None
        result = GridNodeModel.scan(filter_condition=condition, limit=limit, last_evaluated_key=start)
        return list(result), result.last_evaluated_key

    def all_nodes(self) -> list[GridNodeModel]:
        return list(GridNodeModel.scan())

    def node_count(self) -> int:
        return sum(1 for _ in GridNodeModel.scan(attributes_to_get=["id"]))

    # ------------------------------------------------------------ connections
    def connection(self, connection_id: str) -> GridConnectionModel:
        try:
            item = GridConnectionModel.get(connection_id, consistent_read=True)
        except DoesNotExist:
            raise errors.NotFound("No such grid connection.") from None
        if item.kind != "connection":
            raise errors.NotFound("No such grid connection.")
        return item

    def add_connection(self, item: GridConnectionModel) -> None:
        """Write the connection, its pair item and both degrees in one transaction (see the invariants)."""
        a, b = str(item.from_node_id), str(item.to_node_id)
        item.pair = pair_key(a, b)
        pair = GridConnectionModel(id=PAIR_PREFIX + item.pair, kind="pair", pair=item.id)
        try:
            with TransactWrite(connection=_connection()) as write:
                write.save(item, condition=GridConnectionModel.id.does_not_exist())
                write.save(pair, condition=GridConnectionModel.id.does_not_exist())
                for node_id in (a, b):
                    write.update(
                        GridNodeModel(id=node_id),
                        actions=[GridNodeModel.degree.add(1)],
                        condition=GridNodeModel.id.exists(),
                    )
        except TransactWriteError as exc:
            if exc.cause_response_code != "TransactionCanceledException":
                raise errors.Unavailable("The connection could not be written; retry.") from exc
            self._refuse(a, b)

    def _refuse(self, a: str, b: str) -> None:
        """Why the connection's transaction was cancelled, read back (the duplicate first)."""
        try:
            GridConnectionModel.get(PAIR_PREFIX + pair_key(a, b), consistent_read=True)
        except DoesNotExist:
            pass
        else:
            raise errors.Conflict(
                "These nodes are connected already (in one direction or the other).",
                errors=[errors.FieldError("toNodeId", "a connection joins these nodes already")],
            )
        for field, node_id in (("fromNodeId", a), ("toNodeId", b)):
            if not self.node_exists(node_id):
                raise errors.InvalidInput(
                    "The connection's endpoints must be existing nodes.",
                    errors=[errors.FieldError(field, "no such grid node")],
                )
        raise errors.Conflict("The connection was written concurrently with another change; retry.")

    def delete_connection(self, connection_id: str) -> None:
        item = self.connection(connection_id)
        try:
            with TransactWrite(connection=_connection()) as write:
                write.delete(item, condition=GridConnectionModel.id.exists())
                write.delete(GridConnectionModel(id=PAIR_PREFIX + str(item.pair)))
                for node_id in (str(item.from_node_id), str(item.to_node_id)):
                    write.update(
                        GridNodeModel(id=node_id),
                        actions=[GridNodeModel.degree.add(-1)],
                        condition=GridNodeModel.id.exists(),
                    )
        except TransactWriteError as exc:
            if exc.cause_response_code != "TransactionCanceledException":
                raise errors.Unavailable("The connection could not be deleted; retry.") from exc
            raise errors.NotFound("No such grid connection.") from None

    def connections_page(
        self, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[GridConnectionModel], dict[str, Any] | None]:
        result = GridConnectionModel.scan(
            filter_condition=GridConnectionModel.kind == "connection", limit=limit, last_evaluated_key=start
        )
        return list(result), result.last_evaluated_key

    def all_connections(self) -> list[GridConnectionModel]:
        return list(GridConnectionModel.scan(filter_condition=GridConnectionModel.kind == "connection"))
