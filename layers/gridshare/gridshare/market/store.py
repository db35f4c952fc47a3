"""DynamoDB storage of orders, trades and clearing records; PynamoDB errors become kernel errors here.

Every clearing write can be repeated: a trade is put under its derived id (the same content on a re-run),
an order's fill is a SET of what clearing computed (conditioned on the order not having been cancelled),
and an interval's record is created once (conditional put) and only moves forward (clearing -> cleared).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from gridshare.kernel import errors
from gridshare.kernel.tables import failed_condition
from gridshare.market.models import IntervalModel, OrderModel, TradeModel

__all__ = ["SWEEP_KEY", "MarketStore"]

SWEEP_KEY = 0
"""The intervals-table item (interval_start 0, never an interval) where the clearing sweep keeps how far it got."""


@dataclass
class MarketStore:
    # ------------------------------------------------------------ orders
    def put_order(self, order: OrderModel) -> tuple[OrderModel, bool]:
        """Put a new order; when one with its id exists (a retried placement) return that one instead."""
        try:
            order.save(condition=OrderModel.id.does_not_exist())
        except PutError as exc:
            if not failed_condition(exc):
                raise errors.Unavailable("The order could not be recorded; retry with the same key.") from exc
            return self.order(order.id), False
        return order, True

    def order(self, order_id: str) -> OrderModel:
        try:
            return OrderModel.get(order_id, consistent_read=True)
        except DoesNotExist:
            raise errors.NotFound("No such order.") from None

    def find_order(self, order_id: str) -> OrderModel | None:
        try:
            return OrderModel.get(order_id, consistent_read=True)
        except DoesNotExist:
            return None

    def delete_order(self, order: OrderModel) -> None:
        """Undo a placement whose reservation was refused (nothing else refers to the order yet)."""
        order.delete(condition=OrderModel.status == "open")

    def set_reserved(self, order: OrderModel, amount: int, tx_id: str) -> None:
        order.update(actions=[OrderModel.reserved_minor.set(amount), OrderModel.reservation_tx_id.set(tx_id)])

    def cancel(self, order: OrderModel, at: int) -> bool:
        """open -> cancelled; False when the order was no longer open (cleared, or cancelled already)."""
        try:
            order.update(
                actions=[OrderModel.status.set("cancelled"), OrderModel.updated_at.set(at)],
                condition=OrderModel.status == "open",
            )
        except UpdateError as exc:
            if failed_condition(exc):
                return False
            raise
        return True

    def set_released(self, order: OrderModel, amount: int) -> None:
        order.update(actions=[OrderModel.released_minor.set(amount)])

    def set_fill(self, order: OrderModel, filled_wh: int, status: str, at: int) -> bool:
        """Write clearing's outcome on an order (again: the same values); False for a cancelled order."""
        try:
            order.update(
                actions=[
                    OrderModel.filled_wh.set(filled_wh),
                    OrderModel.status.set(status),
                    OrderModel.updated_at.set(at),
                ],
                condition=OrderModel.status != "cancelled",
            )
        except UpdateError as exc:
            if failed_condition(exc):
                return False
            raise
        return True

    def orders_of_interval(self, interval_start: int) -> list[OrderModel]:
        return list(OrderModel.by_interval.query(interval_start))

    def orders_page(
        self,
        user_id: str,
        limit: int,
        start: dict[str, Any] | None,
        *,
        status: str | None,
        interval_start: int | None,
    ) -> tuple[list[OrderModel], dict[str, Any] | None]:
        condition = None
        if status is not None:
            condition = OrderModel.status == status
        if interval_start is not None:
            by_interval = OrderModel.interval_start == interval_start
            condition = by_interval if condition is None else condition & by_interval
        result = OrderModel.by_user.query(
            user_id,
            filter_condition=condition,
            limit=limit,
            last_evaluated_key=start,
            scan_index_forward=False,
        )
        return list(result), result.last_evaluated_key

    def open_orders(self, user_id: str) -> Iterator[OrderModel]:
        return iter(OrderModel.by_user.query(user_id, filter_condition=OrderModel.status == "open"))

    # ------------------------------------------------------------ trades
    def put_trades(self, trades: Iterable[TradeModel]) -> None:
        """Put trades under their derived ids: a re-run writes the same items again."""
        with TradeModel.batch_write() as batch:
            for trade in trades:
                batch.save(trade)

    def trades_by_ids(self, trade_ids: Iterable[str]) -> list[TradeModel]:
        """The trades of these ids that exist (BatchGetItem, consistent reads)."""
        keys = sorted(set(trade_ids))
        return list(TradeModel.batch_get(keys, consistent_read=True)) if keys else []

    def orders_by_ids(self, order_ids: Iterable[str]) -> dict[str, OrderModel]:
        """Order id -> order, of the ids that exist (BatchGetItem, consistent reads)."""
        keys = sorted(set(order_ids))
        return {o.id: o for o in OrderModel.batch_get(keys, consistent_read=True)} if keys else {}

    def trades_of_interval(
        self, interval_start: int, limit: int | None = None, after: str | None = None
    ) -> list[TradeModel]:
        condition = TradeModel.id > after if after else None
        return list(TradeModel.by_interval.query(interval_start, condition, limit=limit))

    def party_trades(self, side: str, user_id: str, low: str, high: str, limit: int | None) -> list[TradeModel]:
        """A user's trades as buyer or seller with ids in (low, high] (ids sort by interval)."""
        index = TradeModel.by_buyer if side == "buyer" else TradeModel.by_seller
        condition = TradeModel.id.between(low, high)
        return [t for t in index.query(user_id, condition, limit=limit) if t.id != low]

    def all_trades(
        self, low: str, high: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[TradeModel], dict[str, Any] | None]:
        result = TradeModel.scan(TradeModel.id.between(low, high), limit=limit, last_evaluated_key=start)
        return list(result), result.last_evaluated_key

    # ------------------------------------------------------------ intervals
    def interval(self, interval_start: int) -> IntervalModel | None:
        try:
            return IntervalModel.get(interval_start, consistent_read=True)
        except DoesNotExist:
            return None

    def intervals(self, starts: list[int]) -> dict[int, IntervalModel]:
        return {int(item.interval_start): item for item in IntervalModel.batch_get(starts)}

    def start_clearing(self, record: IntervalModel) -> tuple[IntervalModel, bool]:
        """Create the interval's clearing record; when it exists, return the stored one (and False)."""
        try:
            record.save(condition=IntervalModel.interval_start.does_not_exist())
        except PutError as exc:
            if not failed_condition(exc):
                raise errors.Unavailable("The clearing record could not be written; the run will retry.") from exc
            stored = self.interval(int(record.interval_start))
            assert stored is not None
            return stored, False
        return record, True

    def finish_clearing(self, record: IntervalModel) -> None:
        record.save(condition=IntervalModel.status == "clearing")

    def swept_through(self) -> int | None:
        item = self.interval(SWEEP_KEY)
        return int(item.swept_through) if item is not None and item.swept_through is not None else None

    def set_swept_through(self, interval_start: int, at: int) -> None:
        """Remember the last interval the sweep has settled."""
        IntervalModel(
            interval_start=SWEEP_KEY, status="sweep", mechanism="", swept_through=interval_start, started_at=at
        ).save()
