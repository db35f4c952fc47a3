"""Placing and cancelling orders with fake collaborators (no AWS): validation naming the field, the
reservation before the order, the gate for cancelling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gridshare.http.idempotency import RequestIds
from gridshare.kernel import errors
from gridshare.kernel.roles import Caller
from gridshare.market.clearing import Fees
from gridshare.market.config import MarketConfig
from gridshare.market.models import OrderModel
from gridshare.market.orders import Orders
from gridshare.market.rules import MarketRules, interval_iso, parse_interval

T0 = parse_interval("2026-12-02T10:15:00Z")
NOW = T0 - 3_600_000
SELLER = Caller("seller", "seller", "prosumer", ("prosumer",), 0, "t")
BUYER = Caller("buyer", "buyer", "consumer", ("consumer",), 0, "t")


@dataclass
class FakeStore:
    orders: dict[str, OrderModel] = field(default_factory=dict)
    clearing: set[int] = field(default_factory=set)  # intervals whose clearing has started

    def interval(self, interval_start: int) -> object | None:
        return object() if interval_start in self.clearing else None

    def put_order(self, order: OrderModel) -> tuple[OrderModel, bool]:
        if order.id in self.orders:
            return self.orders[order.id], False
        self.orders[order.id] = order
        return order, True

    def order(self, order_id: str) -> OrderModel:
        if order_id not in self.orders:
            raise errors.NotFound("No such order.")
        return self.orders[order_id]

    def cancel(self, order: OrderModel, at: int) -> bool:
        if order.status != "open":
            return False
        order.status = "cancelled"
        return True

    def set_released(self, order: OrderModel, amount: int) -> None:
        order.released_minor = amount


@dataclass
class FakeReservations:
    balance: int
    held: dict[str, int] = field(default_factory=dict)

    def reserve(self, order_id: str, user_id: str, amount: int, currency: str, *, field_name: str) -> str:
        if order_id not in self.held:
            if amount > self.balance:
                raise errors.Conflict("short", errors=[errors.FieldError(field_name, "insufficient funds")])
            self.balance -= amount
            self.held[order_id] = amount
        return f"reservation:{order_id}"

    def release(self, order_id: str, user_id: str, amount: int, currency: str, *, reason: str) -> str:
        self.balance += amount
        self.held[order_id] -= amount
        return f"reservation:{order_id}:{reason}"


@dataclass
class Fakes:
    reservations: FakeReservations

    def locate(self, site_id: str) -> dict[str, Any]:
        if site_id != "site-1":
            raise errors.NotFound("No such site.")
        return {"id": site_id, "ownerId": "seller", "capacityKw": 4}

    def is_member(self, community_id: str, user_id: str) -> bool:
        return community_id == "c-1" and user_id == "buyer"


def orders(clock: list[int], balance: int = 1_000) -> tuple[Orders, FakeStore, FakeReservations]:
    store, reservations = FakeStore(), FakeReservations(balance)
    fakes = Fakes(reservations)
    config = MarketConfig(MarketRules(300, 2), "pay_as_clear", Fees(5, 2), "EUR")
    built = Orders(
        store,  # type: ignore[arg-type]
        lambda: clock[0],
        lambda: config,
        lambda: fakes,  # type: ignore[arg-type,return-value]
        lambda: fakes,  # type: ignore[arg-type,return-value]
        lambda: fakes,  # type: ignore[arg-type,return-value]
    )
    return built, store, reservations


def body(**changes: Any) -> dict[str, Any]:
    fields = {
        "side": "BID",
        "interval": interval_iso(T0),
        "energy_wh": 1_500,
        "limit_price_minor_per_kwh": 30,
        "currency": None,
        "site_id": None,
        "community_id": None,
    }
    return {**fields, **changes}


@pytest.mark.parametrize(
    ("caller", "changes", "field_name"),
    [
        (BUYER, {"interval": "2026-12-02T10:10:00Z"}, "interval"),
        (BUYER, {"interval": interval_iso(T0 + 3 * 86_400_000)}, "interval"),
        (BUYER, {"currency": "usd"}, "currency"),
        (BUYER, {"site_id": "site-1"}, "siteId"),  # a BID's site must be the buyer's
        (BUYER, {"community_id": "c-2"}, "communityId"),
        (SELLER, {"side": "ASK"}, "siteId"),
        (SELLER, {"side": "ASK", "site_id": "site-2"}, "siteId"),
        (SELLER, {"side": "ASK", "site_id": "site-1", "energy_wh": 1_001}, "energyWh"),
    ],
)
def test_a_refused_order_names_the_field(caller: Caller, changes: dict[str, Any], field_name: str) -> None:
    use_cases, store, reservations = orders([NOW])
    with pytest.raises(errors.InvalidInput) as exc:
        use_cases.place(caller, body(**changes), RequestIds())
    assert [e.field for e in exc.value.errors] == [field_name]
    assert store.orders == {} and reservations.held == {}


def test_a_bid_is_reserved_before_it_is_written_and_a_short_wallet_places_nothing() -> None:
    use_cases, store, reservations = orders([NOW], balance=100)
    placed = use_cases.place(BUYER, body(community_id="c-1"), RequestIds("key", NOW))
    assert (placed["reservedMinor"], placed["communityId"], reservations.balance) == (53, "c-1", 47)
    again = use_cases.place(BUYER, body(community_id="c-1"), RequestIds("key", NOW))  # a retried request
    assert again["id"] == placed["id"] and reservations.balance == 47
    with pytest.raises(errors.Conflict) as exc:
        use_cases.place(BUYER, body(energy_wh=10_000), RequestIds())
    assert [e.field for e in exc.value.errors] == ["energyWh"]
    assert list(store.orders) == [placed["id"]]


def test_cancel_releases_before_the_gate_and_is_refused_after() -> None:
    clock = [NOW]
    use_cases, _, reservations = orders(clock)
    first = use_cases.place(BUYER, body(), RequestIds())
    second = use_cases.place(BUYER, body(), RequestIds())
    cancelled = use_cases.cancel(BUYER, first["id"])
    assert (cancelled["status"], cancelled["releasedMinor"], reservations.balance) == ("cancelled", 53, 947)
    assert use_cases.cancel(BUYER, first["id"])["status"] == "cancelled"  # again: nothing more released
    assert reservations.balance == 947
    with pytest.raises(errors.NotFound):
        use_cases.cancel(SELLER, second["id"])  # another user's order
    clock[0] = T0 - 300_000  # the gate closes
    with pytest.raises(errors.Conflict):
        use_cases.cancel(BUYER, second["id"])


def test_a_placement_that_lands_after_clearing_started_is_withdrawn_and_refused() -> None:
    # Given a placement that passed the gate check, and clearing that starts before its order is written
    use_cases, store, reservations = orders([NOW])
    store.clearing.add(T0)
    # When it writes the order, it finds the clearing record: the order is withdrawn, the money released
    with pytest.raises(errors.InvalidInput) as exc:
        use_cases.place(BUYER, body(), RequestIds("late", NOW))
    assert [e.field for e in exc.value.errors] == ["interval"]
    (order,) = store.orders.values()
    assert (order.status, int(order.released_minor), reservations.balance) == ("cancelled", 53, 1_000)
    # And its retry is refused the same way, with nothing moved twice
    with pytest.raises(errors.InvalidInput):
        use_cases.place(BUYER, body(), RequestIds("late", NOW))
    assert reservations.balance == 1_000
