"""Orders: placing a BID or an ASK for a delivery interval, cancelling it, reading one's own.

Placing (docs/market.md, "Orders"): the interval must be on a 15-minute boundary, before its gate closes
and within the horizon (:mod:`gridshare.market.rules`); the currency is the wallets' (the default
currency); an ASK names a site the seller owns and offers at most ``capacityKw x 250 Wh``; a BID may name
one of the buyer's sites (where it consumes); a ``communityId`` makes the order community-only and needs
the user to be a member. Every refusal is a 422 naming the field.

A BID then reserves its worst-case cost (``fees.max_bid_cost_minor``: energy x limit price + the grid
fee, rounded up) from the buyer's wallet into their escrow, through the wallets service, **before** the
order is written: the reservation's ledger id is derived from the order id, and the order id from the
request's ``Idempotency-Key``, so a placement interrupted between the two writes is completed by its
retry, and no order exists without its money. Too little available balance is a 409 naming ``energyWh``.

A placement still in flight when clearing starts (it read the clock just before the gate) finds the
interval's clearing record after writing the order: it withdraws the order, releases its reservation
and is refused like a late one (422 ``interval``).

Cancelling (before gate closure; 409 after, and for an order clearing has settled) moves the order to
``cancelled`` (conditionally: only an open order) and releases its whole reservation; cancelling a
cancelled order again only makes sure the release happened. Another user's order is 404. The call that
moved the order announces it (``OrderUpdated``, :mod:`gridshare.market.pushes`) once it is released; a
placement withdrawn as too late was never accepted, and is not announced.
"""

from __future__ import annotations

from typing import Any

from gridshare.http.idempotency import RequestIds
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.roles import Caller
from gridshare.market.fees import max_bid_cost_minor
from gridshare.market.models import OrderModel
from gridshare.market.pushes import announce
from gridshare.market.rules import interval_iso, max_ask_wh, parse_interval
from gridshare.market.use_cases import MarketUseCases, order_view

__all__ = ["Orders"]


def _invalid(field_name: str, message: str, detail: str) -> errors.InvalidInput:
    return errors.InvalidInput(detail, errors=[errors.FieldError(field_name, message)])


class Orders(MarketUseCases):
    # ------------------------------------------------------------ placing
    def _check_site(self, caller: Caller, site_id: str) -> dict[str, Any]:
        """The caller's site (422 ``siteId`` for a missing site and for another user's alike)."""
        try:
            site = self.sites().locate(site_id)
        except errors.NotFound:
            site = None
        if site is None or site["ownerId"] != caller.user_id:
            raise _invalid("siteId", "no such site of yours", "No such site of yours.")
        return site

    def place(self, caller: Caller, fields: dict[str, Any], ids: RequestIds) -> dict[str, Any]:
        config = self.config()
        now = self.clock()
        interval = parse_interval(fields["interval"])
        config.rules.check_orderable(interval, now)
        currency = (fields.get("currency") or config.currency).upper()
        if currency != config.currency:
            raise _invalid("currency", f"the market trades in {config.currency}", f"Orders are in {config.currency}.")
        side, energy = fields["side"], int(fields["energy_wh"])
        site_id = fields.get("site_id")
        if side == "ASK" and not site_id:
            raise _invalid("siteId", "an ASK sells from one of your sites", "An ASK needs the site it sells from.")
        if site_id:
            site = self._check_site(caller, site_id)
            if side == "ASK" and energy > (most := max_ask_wh(float(site["capacityKw"]))):
                raise _invalid(
                    "energyWh",
                    f"at most {most} Wh (capacityKw x 250 Wh)",
                    f"The site can produce at most {most} Wh in 15 minutes.",
                )
        community_id = fields.get("community_id")
        if community_id and not self.communities().is_member(community_id, caller.user_id):
            raise _invalid("communityId", "not a community of yours", "You are not a member of this community.")
        order = OrderModel(
            id=ids.new("order"),
            user_id=caller.user_id,
            side=side,
            interval_start=interval,
            energy_wh=energy,
            limit_price=int(fields["limit_price_minor_per_kwh"]),
            currency=currency,
            site_id=site_id,
            community_id=community_id,
            community_only=bool(community_id),
            status="open",
            created_at=now,
            updated_at=now,
        )
        if side == "BID":
            amount = max_bid_cost_minor(energy, int(order.limit_price), config.fees)
            order.reservation_tx_id = self.wallets().reservations.reserve(
                order.id, caller.user_id, amount, currency, field_name="energyWh"
            )
            order.reserved_minor = amount
        stored, _ = self.store.put_order(order)
        if self.store.interval(interval) is not None:
            self._too_late(stored)
        return order_view(stored)

    def _too_late(self, order: OrderModel) -> None:
        """The interval's clearing started while this placement was in flight (it read the clock just before
        the gate): the order is withdrawn (cancelled, so no clearing run ever reads it) and its reservation
        released, and the placement is refused as past gate closure. Clearing writes its record before it
        reads the orders, so an order written before this check is either seen by clearing or withdrawn."""
        if not self.store.cancel(order, self.clock()) and self.store.order(order.id).status != "cancelled":
            return  # clearing read it and settled it: it stands
        self._release_all(self.store.order(order.id))
        raise _invalid("interval", "past gate closure", "The interval's gate closed while the order was placed.")

    # ------------------------------------------------------------ cancelling
    def _own(self, caller: Caller, order_id: str) -> OrderModel:
        order = self.store.order(order_id)
        if order.user_id != caller.user_id and not caller.is_admin:
            raise errors.NotFound("No such order.")
        return order

    def cancel(self, caller: Caller, order_id: str) -> dict[str, Any]:
        order = self._own(caller, order_id)
        moved = False  # this call cancelled it (and announces it)
        rules = self.config().rules
        interval = int(order.interval_start)
        if order.status == "open":
            if not rules.is_open(interval, self.clock()):
                raise errors.Conflict(
                    f"The gate of {interval_iso(interval)} has closed: the order can no longer be cancelled.",
                    errors=[errors.FieldError("id", "past gate closure")],
                )
            if self.store.cancel(order, self.clock()):
                moved = True
            else:
                order = self.store.order(order_id)
        if order.status != "cancelled":
            raise errors.Conflict(
                f"The order is {order.status}: it can no longer be cancelled.",
                errors=[errors.FieldError("id", f"the order is {order.status}")],
            )
        self._release_all(self.store.order(order_id))
        order = self.store.order(order_id)
        if moved:
            announce(self.events(), (), (order,))
        return order_view(order)

    def _release_all(self, order: OrderModel) -> None:
        reserved = int(order.reserved_minor)
        if order.side != "BID" or reserved <= 0 or int(order.released_minor) >= reserved:
            return
        self.wallets().reservations.release(order.id, order.user_id, reserved, order.currency, reason="cancelled")
        self.store.set_released(order, reserved)

    # ------------------------------------------------------------ reading
    def get(self, caller: Caller, order_id: str) -> dict[str, Any]:
        return order_view(self._own(caller, order_id))

    def list(
        self, caller: Caller, limit: int, cursor: str | None, *, status: str | None, interval: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor)
        if start is not None and start.get("user_id", {}).get("S") != caller.user_id:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        interval_start = parse_interval(interval) if interval else None
        items, last = self.store.orders_page(caller.user_id, limit, start, status=status, interval_start=interval_start)
        return [order_view(o) for o in items], encode_cursor(last)
