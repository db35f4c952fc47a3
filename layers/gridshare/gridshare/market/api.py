"""Market routes: orders for 15-minute delivery intervals, and clearing an interval (admins).

Prosumers, consumers and admins trade: an ASK sells from one of the caller's sites, a BID reserves its
worst-case cost from the caller's wallet (docs/market.md). `POST /v1/market/orders` honours an
`Idempotency-Key`: the same key and body replay the first answer and place nothing twice. Another
user's order answers 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ApiBlueprint
from gridshare.http.idempotency import RequestIds
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller
from gridshare.market.service import MarketService, market_service

if TYPE_CHECKING:
    from gridshare.market.requests import OrderBody, OrdersQuery

api = ApiBlueprint("market")

TRADERS: frozenset[str] = frozenset({"admin", "prosumer", "consumer"})
"""Who places and cancels orders: prosumers sell (and buy), consumers buy; admins too."""
ADMINS: frozenset[str] = frozenset({"admin"})


def service() -> MarketService:
    return market_service()


@api.route(
    "/v1/market/orders",
    "POST",
    roles=TRADERS,
    body="OrderBody",
    status=201,
    idempotent=True,
    response="Envelope[Order]",
    errors=(409,),  # the wallet's available balance is short of the BID's reservation
    summary="Place a BID or an ASK for a 15-minute delivery interval (a BID reserves its worst-case cost)",
)
def place_order(caller: Caller, body: OrderBody, ids: RequestIds) -> dict:
    return {"data": service().orders.place(caller, body.attributes(), ids)}


@api.route(
    "/v1/market/orders",
    "GET",
    roles=TRADERS,
    query="OrdersQuery",
    response="Page[Order]",
    summary="The caller's orders, newest first (by status and interval)",
)
def list_orders(caller: Caller, query: OrdersQuery) -> dict:
    items, cursor = service().orders.list(
        caller, query.limit, query.cursor, status=query.status, interval=query.interval
    )
    return page(items, query.limit, cursor)


@api.route(
    "/v1/market/orders/{id}", "GET", roles=TRADERS, response="Envelope[Order]", summary="One of the caller's orders"
)
def get_order(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().orders.get(caller, id)}


@api.route(
    "/v1/market/orders/{id}",
    "DELETE",
    roles=TRADERS,
    response="Envelope[Order]",
    errors=(409,),  # the gate has closed, or the order has cleared
    summary="Cancel an order before gate closure (a BID's reservation goes back to the wallet)",
)
def cancel_order(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": service().orders.cancel(caller, id)}


@api.route(
    "/v1/market/intervals/{interval}/clear",
    "POST",
    roles=ADMINS,
    response="Envelope[Interval]",
    errors=(409, 422),  # the gate has not closed yet; not the start of a 15-minute interval
    summary="Clear a delivery interval now (after gate closure; a cleared interval stays as it is)",
)
def clear_interval(caller: Caller, interval: str) -> dict:
    return {"data": service().clearing.clear(interval)}
