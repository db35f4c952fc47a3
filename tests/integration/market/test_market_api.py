"""The market through the API against moto: orders, reservations and their release, cancelling, clearing
(the admin route and the schedule's handler), idempotent re-runs, market data, and who sees what."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.kernel import clock
from gridshare.market.rules import INTERVAL_MS, interval_iso
from tests.support.wallets import Member, Money, ledger_types

MINUTE = 60_000


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _fields(response: Any) -> set[str]:
    return {e["field"] for e in json.loads(response.body).get("errors", [])}


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    """Now, fixed a little ahead of real time: tokens and Stripe's signatures made during the test (on
    real time) are then never from the future, and stay within the webhook tolerance (300 s)."""
    with clock.frozen(clock.now_ms() + 150_000) as moved:
        yield moved


def next_interval(frozen: clock.FrozenClock, lead_minutes: int = 10) -> int:
    """The first interval starting at least `lead_minutes` from now."""
    at = frozen() + lead_minutes * MINUTE
    return -(-at // INTERVAL_MS) * INTERVAL_MS


def make_site(money: Money, who: Member, capacity_kw: float = 10) -> str:
    body = {
        "name": "Roof",
        "kind": "solar",
        "capacityKw": capacity_kw,
        "location": {"lat": 48.1, "lon": 11.6},
        "timezone": "Europe/Berlin",
        "tariff": {"currency": "EUR", "retailMinorPerKwh": 30, "feedInMinorPerKwh": 8},
    }
    response = money.call("POST", "/v1/sites", who, body)
    assert response.status_code == 201, response.body
    return str(_data(response)["id"])


def order(
    money: Money, who: Member, side: str, interval: int, wh: int, price: int, key: str | None = None, **extra: Any
) -> Any:
    body = {"side": side, "interval": interval_iso(interval), "energyWh": wh, "limitPriceMinorPerKwh": price, **extra}
    return money.call("POST", "/v1/market/orders", who, body, key)


def placed(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.body
    return dict(_data(response))


def test_orders_are_validated_naming_the_field(money: Money, frozen: clock.FrozenClock) -> None:
    seller = money.member("seller@example.com")
    site = make_site(money, seller, capacity_kw=4)  # at most 1,000 Wh per interval
    other_site = make_site(money, money.member("other@example.com"))
    interval = next_interval(frozen)
    cases = [
        ({"interval": "2026-12-02T10:07:00Z"}, "interval"),
        ({"interval": "not a time"}, "interval"),
        ({"interval": interval_iso(interval - INTERVAL_MS * 4)}, "interval"),  # past gate closure
        ({"interval": interval_iso(interval + 3 * 86_400_000)}, "interval"),  # beyond the horizon
        ({"siteId": None}, "siteId"),  # an ASK sells from a site
        ({"siteId": other_site}, "siteId"),  # ... of the seller's
        ({"energyWh": 1_001}, "energyWh"),  # capacityKw x 250 Wh
        ({"currency": "USD"}, "currency"),
        ({"communityId": "01J00000000000000000000000"}, "communityId"),
    ]
    for changes, field in cases:
        body = {
            "side": "ASK",
            "interval": interval_iso(interval),
            "energyWh": 1_000,
            "limitPriceMinorPerKwh": 20,
            "siteId": site,
            **changes,
        }
        response = money.call("POST", "/v1/market/orders", seller, body)
        assert response.status_code == 422, (changes, response.body)
        assert field in _fields(response), (changes, response.body)
    for bad in ({"energyWh": 0}, {"energyWh": 1.5}, {"limitPriceMinorPerKwh": -1}, {"side": "SELL"}):
        body = {"side": "ASK", "interval": interval_iso(interval), "energyWh": 1, "limitPriceMinorPerKwh": 1, **bad}
        assert money.call("POST", "/v1/market/orders", seller, body).status_code == 422, bad
    assert placed(order(money, seller, "ASK", interval, 1_000, 20, siteId=site))["status"] == "open"


def test_a_bid_reserves_its_worst_case_cost_and_a_cancel_releases_it(money: Money, frozen: clock.FrozenClock) -> None:
    buyer = money.member("buyer@example.com", "consumer")
    money.topup(buyer, 1_000)
    interval = next_interval(frozen)
    # ceil(1,500 Wh x (30 + 5 grid fee) / 1000) = 53
    bid = placed(order(money, buyer, "BID", interval, 1_500, 30, key="bid-1"))
    assert (bid["reservedMinor"], bid["status"]) == (53, "open")
    assert money.available(buyer) == 1_000 - 53
    # the same Idempotency-Key places nothing twice
    again = order(money, buyer, "BID", interval, 1_500, 30, key="bid-1")
    assert again.status_code == 201 and _data(again)["id"] == bid["id"]
    assert money.available(buyer) == 947 and ledger_types()["reservation"] == 1
    # more than the wallet holds: 409 naming energyWh, nothing placed
    short = order(money, buyer, "BID", interval, 100_000, 30)
    assert short.status_code == 409 and _fields(short) == {"energyWh"}
    listed = json.loads(money.call("GET", "/v1/market/orders?status=open", buyer).body)
    assert [o["id"] for o in listed["data"]] == [bid["id"]]

    cancelled = money.call("DELETE", f"/v1/market/orders/{bid['id']}", buyer)
    assert cancelled.status_code == 200, cancelled.body
    assert (_data(cancelled)["status"], _data(cancelled)["releasedMinor"]) == ("cancelled", 53)
    assert money.available(buyer) == 1_000
    # cancelling again changes nothing; after gate closure a cancel is refused
    assert money.call("DELETE", f"/v1/market/orders/{bid['id']}", buyer).status_code == 200
    assert ledger_types()["reservation_release"] == 1
    late = placed(order(money, buyer, "BID", interval, 100, 30))
    frozen.set(interval - 5 * MINUTE)
    refused = money.call("DELETE", f"/v1/market/orders/{late['id']}", buyer)
    assert refused.status_code == 409, refused.body
    assert money.verify()["ok"]


def test_another_users_order_is_not_found(money: Money, frozen: clock.FrozenClock) -> None:
    buyer, stranger = money.member("b@example.com", "consumer"), money.member("s@example.com", "consumer")
    money.topup(buyer, 500)
    bid = placed(order(money, buyer, "BID", next_interval(frozen), 100, 10))
    assert money.call("GET", f"/v1/market/orders/{bid['id']}", stranger).status_code == 404
    assert money.call("DELETE", f"/v1/market/orders/{bid['id']}", stranger).status_code == 404
    assert _data(money.call("GET", "/v1/market/orders", stranger)) == []
    assert money.call("GET", f"/v1/market/orders/{bid['id']}", money.admin).status_code == 200


def _market(money: Money, frozen: clock.FrozenClock) -> dict[str, Any]:
    """Two sellers and two buyers for one interval, one bid cancelled."""
    ann, bob = money.member("ann@example.com"), money.member("bob@example.com")
    cid, dan = money.member("cid@example.com", "consumer"), money.member("dan@example.com", "consumer")
    for buyer in (cid, dan):
        money.topup(buyer, 2_000)
    interval = next_interval(frozen)
    asks = [
        placed(order(money, ann, "ASK", interval, 1_000, 20, siteId=make_site(money, ann))),
        placed(order(money, bob, "ASK", interval, 1_000, 24, siteId=make_site(money, bob))),
    ]
    bids = [
        placed(order(money, cid, "BID", interval, 1_500, 30)),  # reserves ceil(1500 x 35 / 1000) = 53
        placed(order(money, dan, "BID", interval, 800, 22)),  # 22: below bob's ask; reserves 22
    ]
    gone = placed(order(money, dan, "BID", interval, 500, 40))
    assert money.call("DELETE", f"/v1/market/orders/{gone['id']}", dan).status_code == 200
    return {"interval": interval, "asks": asks, "bids": bids, "people": (ann, bob, cid, dan)}


def test_the_admin_clears_an_interval_once_after_gate_closure(money: Money, frozen: clock.FrozenClock) -> None:
    m = _market(money, frozen)
    interval, (ann, bob, cid, dan) = m["interval"], m["people"]
    path = f"/v1/market/intervals/{interval_iso(interval)}/clear"
    book = _data(money.call("GET", f"/v1/market/book?interval={interval_iso(interval)}", cid))
    assert book["bids"] == [
        {"priceMinorPerKwh": 30, "energyWh": 1_500, "orders": 1},
        {"priceMinorPerKwh": 22, "energyWh": 800, "orders": 1},
    ]
    assert [level["priceMinorPerKwh"] for level in book["asks"]] == [20, 24]
    early = money.call("POST", path, money.admin)
    assert early.status_code == 409, early.body
    assert money.call("POST", path, cid).status_code == 403

    frozen.set(interval - 5 * MINUTE)  # the gate closes
    assert _data(money.call("GET", f"/v1/market/intervals/{interval_iso(interval)}", cid))["status"] == "closed"
    cleared = money.call("POST", path, money.admin)
    assert cleared.status_code == 200, cleared.body
    result = _data(cleared)
    # cid (30) buys 1,000 Wh from ann (20), then 500 Wh from bob (24): marginal pair 30/24 -> 27
    assert (result["status"], result["clearedEnergyWh"], result["tradeCount"]) == ("cleared", 1_500, 2)
    trades = _data(money.call("GET", f"/v1/market/trades?interval={interval_iso(interval)}", cid))
    assert sorted((t["energyWh"], t["priceMinorPerKwh"], t["gridFeeMinorPerKwh"]) for t in trades) == [
        (500, 27, 5),
        (1_000, 27, 5),
    ]
    assert {t["buyOrderId"] for t in trades} == {m["bids"][0]["id"]}
    # what cid's trades cost stays in escrow (1000 x 32 / 1000 + 500 x 32 / 1000 = 48); the rest came back
    assert money.available(cid) == 2_000 - 48
    assert money.available(dan) == 2_000  # unmatched: expired, released in full
    statuses = {
        o["id"]: o["status"] for who in (ann, bob, cid, dan) for o in _data(money.call("GET", "/v1/market/orders", who))
    }
    assert statuses[m["bids"][0]["id"]] == "filled" and statuses[m["bids"][1]["id"]] == "expired"
    assert statuses[m["asks"][0]["id"]] == "filled" and statuses[m["asks"][1]["id"]] == "partially_filled"
    # a re-run changes nothing
    posted = ledger_types()
    again = money.call("POST", path, money.admin)
    assert again.status_code == 200 and _data(again) == result
    assert ledger_types() == posted
    assert money.verify()["ok"]
    # trades: each party sees their own, a bystander none, the admin all
    assert len(_data(money.call("GET", "/v1/market/trades", ann))) == 1
    assert len(_data(money.call("GET", "/v1/market/trades", dan))) == 0
    assert len(_data(money.call("GET", "/v1/market/trades", money.admin))) == 2
    stats = _data(money.call("GET", "/v1/market/stats", cid))
    (row,) = stats["intervals"]
    assert (row["volumeWh"], row["vwapMinorPerKwh"], row["participants"]) == (1_500, 27, 3)
    board = _data(money.call("GET", "/v1/dashboard/stats", ann))
    assert (board["energySoldWh"], board["earningsMinor"], board["openOrders"]) == (1_000, 27, 0)


def test_the_schedule_clears_due_intervals_idempotently(money: Money, frozen: clock.FrozenClock) -> None:
    from functions.market.clearing import handler as clearing
    from gridshare_local.lambda_runtime import LambdaContext

    def handler(event: dict[str, Any], _: None) -> dict[str, Any]:
        return dict(clearing(event, LambdaContext("market-clearing")))

    m = _market(money, frozen)
    interval = m["interval"]
    assert interval_iso(interval) not in handler({}, None)["cleared"]  # the gate is still open
    frozen.set(interval - 5 * MINUTE + 1)
    assert interval_iso(interval) in handler({}, None)["cleared"]
    posted = ledger_types()
    assert handler({}, None)["cleared"] == []  # nothing new is due
    view = _data(money.call("GET", f"/v1/market/intervals/{interval_iso(interval)}", m["people"][2]))
    assert (view["status"], view["clearingPrice"], view["tradeCount"]) == ("cleared", 27, 2)
    assert ledger_types() == posted
    assert money.verify()["ok"]


def test_pay_as_bid_and_community_only_orders(
    money: Money, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridshare.kernel.settings import reset_settings

    monkeypatch.setenv("GS_MARKET_MECHANISM", "pay_as_bid")
    reset_settings()
    referent, buyer = money.member("ref@example.com"), money.member("mem@example.com", "consumer")
    outsider = money.member("out@example.com", "consumer")
    community = money.call(
        "POST",
        "/v1/communities",
        referent,
        {"name": "Block A", "sharing": {"rule": "pro_rata", "priceMinorPerKwh": 10, "currency": "EUR"}},
    )
    assert community.status_code == 201, community.body
    community_id = _data(community)["id"]
    joined = money.call(
        "POST",
        f"/v1/communities/{community_id}/members",
        referent,
        {"userId": buyer.user_id, "memberType": "consumer", "userType": "real"},
    )
    assert joined.status_code == 201, joined.body
    for who in (buyer, outsider):
        money.topup(who, 1_000)
    interval = next_interval(frozen)
    site = make_site(money, referent)
    placed(order(money, referent, "ASK", interval, 1_000, 10, siteId=site, communityId=community_id))
    refused = order(money, outsider, "BID", interval, 500, 40, communityId=community_id)
    assert refused.status_code == 422 and _fields(refused) == {"communityId"}
    placed(order(money, outsider, "BID", interval, 500, 40))  # the open market: it cannot reach the community
    mine = placed(order(money, buyer, "BID", interval, 400, 30, communityId=community_id))
    frozen.set(interval - 5 * MINUTE)
    bad = money.call("POST", "/v1/market/intervals/2026-12-02T10:07:00Z/clear", money.admin)
    assert bad.status_code == 422 and _fields(bad) == {"interval"}
    result = _data(money.call("POST", f"/v1/market/intervals/{interval_iso(interval)}/clear", money.admin))
    assert (result["mechanism"], result["tradeCount"], result["clearedEnergyWh"]) == ("pay_as_bid", 1, 400)
    (trade,) = _data(money.call("GET", "/v1/market/trades", buyer))
    # pay-as-bid: the bid's own limit; inside the community the lower fee
    assert (trade["buyOrderId"], trade["priceMinorPerKwh"], trade["gridFeeMinorPerKwh"]) == (mine["id"], 30, 2)
    assert _data(money.call("GET", "/v1/market/trades", outsider)) == []
    assert money.available(buyer) == 1_000 - 400 * 32 // 1000
    assert money.available(outsider) == 1_000
    assert money.verify()["ok"]
