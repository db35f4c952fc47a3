"""The peer-to-peer market through the running local stack: two prosumers with sites ask, two consumers
with wallets topped up through the Stripe stand-in bid, one bid is cancelled, `gridshare clock advance`
passes gate closure, the market-clearing schedule clears the interval, and the trades, the orders, the
wallets (what stays reserved, what came back) and `gridshare ledger verify` are as expected; a buyer's
WebSocket subscribed to `market` receives `trade.executed` for each of their trades.

Runs on a stack of its own (`private_stack`): moving the clock would move it under every later test.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.conftest import Stack
from tests.e2e.helpers import Q, available, gridshare, iso, order, site, topped_up

pytestmark = pytest.mark.e2e


async def _next(ws: ClientConnection, kind: str, timeout: float = 15.0) -> dict[str, Any]:
    """The next message of `kind` (others, e.g. `order.updated`, are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if message["type"] == kind:
            return dict(message)


def _seller(stack: Stack, email: str, capacity_kw: float) -> tuple[dict[str, Any], str]:
    login = stack.register(email, "prosumer")
    return login, site(stack, login["accessToken"], f"{email} roof", capacity_kw, feed_in=8)


def test_two_sellers_two_buyers_one_cancel_cleared_at_gate_closure(private_stack: Stack) -> None:
    stack = private_stack
    ann, ann_site = _seller(stack, "ann.market@example.com", 8)  # at most 2,000 Wh per interval
    bob, bob_site = _seller(stack, "bob.market@example.com", 4)  # at most 1,000 Wh
    cid = topped_up(stack, "cid.market@example.com", 5_000)
    dan = topped_up(stack, "dan.market@example.com", 5_000)

    # An interval 20-35 minutes ahead: its gate (5 minutes before it starts) is still open.
    now = int(time.time() * 1000)
    interval = -(-(now + 20 * 60_000) // Q) * Q
    name = iso(interval)
    too_much = stack.call(
        "POST",
        "/v1/market/orders",
        {"side": "ASK", "interval": name, "energyWh": 1_001, "limitPriceMinorPerKwh": 20, "siteId": bob_site},
        token=bob["accessToken"],
    )
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "energyWh", too_much.text

    ask_ann = order(
        stack,
        ann,
        {"side": "ASK", "interval": name, "energyWh": 2_000, "limitPriceMinorPerKwh": 18, "siteId": ann_site},
    )
    ask_bob = order(
        stack,
        bob,
        {"side": "ASK", "interval": name, "energyWh": 1_000, "limitPriceMinorPerKwh": 24, "siteId": bob_site},
    )
    bid_cid = order(stack, cid, {"side": "BID", "interval": name, "energyWh": 2_500, "limitPriceMinorPerKwh": 30})
    bid_dan = order(stack, dan, {"side": "BID", "interval": name, "energyWh": 1_000, "limitPriceMinorPerKwh": 26})
    cancelled = order(stack, dan, {"side": "BID", "interval": name, "energyWh": 500, "limitPriceMinorPerKwh": 40})
    # each BID holds ceil(energy x (limit + 5 grid fee) / 1000): 88 for cid, 31 + 23 for dan
    assert (bid_cid["reservedMinor"], bid_dan["reservedMinor"], cancelled["reservedMinor"]) == (88, 31, 23)
    assert available(stack, cid["accessToken"]) == 5_000 - 88
    assert available(stack, dan["accessToken"]) == 5_000 - 31 - 23

    gone = stack.call("DELETE", f"/v1/market/orders/{cancelled['id']}", token=dan["accessToken"])
    assert gone.status_code == 200 and gone.json()["data"]["status"] == "cancelled", gone.text
    assert available(stack, dan["accessToken"]) == 5_000 - 31
    book = stack.call("GET", f"/v1/market/book?interval={name}", token=cid["accessToken"]).json()["data"]
    assert [lv["priceMinorPerKwh"] for lv in book["bids"]] == [30, 26] and book["status"] == "open"

    # When the stack's clock passes gate closure, the market-clearing schedule clears the interval.
    # cid watches the `market` topic meanwhile.
    advance_to = interval - 5 * 60_000 + 60_000
    minutes = -(-(advance_to - int(time.time() * 1000)) // 60_000)

    async def cleared_while_watching() -> list[dict[str, Any]]:
        async with connect(f"{stack.ws}?token={cid['accessToken']}") as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": ["market"]}))
            assert (await _next(ws, "subscribed"))["data"]["topics"] == ["market"]
            advanced = await asyncio.to_thread(gridshare, stack, "clock", "advance", f"{minutes}m")
            assert advanced.returncode == 0, advanced.stdout + advanced.stderr
            assert "market-clearing" in advanced.stdout, advanced.stdout
            return [await _next(ws, "trade.executed") for _ in range(2)]

    pushed = asyncio.run(cleared_while_watching())
    view = stack.call("GET", f"/v1/market/intervals/{name}", token=ann["accessToken"]).json()["data"]
    # cid (30) takes ann's 2,000 Wh (18), then 500 Wh of bob's (24); dan (26) takes bob's other 500 Wh.
    # The marginal pair is dan's 26 and bob's 24: one uniform price, 25.
    assert (view["status"], view["clearingPrice"], view["clearedEnergyWh"], view["tradeCount"]) == (
        "cleared",
        25,
        3_000,
        3,
    ), view
    late = stack.call("DELETE", f"/v1/market/orders/{bid_cid['id']}", token=cid["accessToken"])
    assert late.status_code == 409, late.text

    trades = stack.call("GET", f"/v1/market/trades?interval={name}", token=cid["accessToken"]).json()["data"]
    assert sorted(
        (t["sellOrderId"], t["energyWh"], t["priceMinorPerKwh"], t["gridFeeMinorPerKwh"]) for t in trades
    ) == sorted([(ask_ann["id"], 2_000, 25, 5), (ask_bob["id"], 500, 25, 5)])
    assert sorted(m["data"]["trade"]["id"] for m in pushed) == sorted(t["id"] for t in trades)
    assert all(m["data"]["trade"]["buyOrderId"] == bid_cid["id"] for m in pushed)
    (dans,) = stack.call("GET", f"/v1/market/trades?interval={name}", token=dan["accessToken"]).json()["data"]
    assert (dans["buyOrderId"], dans["sellOrderId"], dans["energyWh"]) == (bid_dan["id"], ask_bob["id"], 500)

    def status(who: dict[str, Any], order_id: str) -> tuple[str, int]:
        found = stack.call("GET", f"/v1/market/orders/{order_id}", token=who["accessToken"]).json()["data"]
        return found["status"], found["filledEnergyWh"]

    assert status(ann, ask_ann["id"]) == ("filled", 2_000)
    assert status(bob, ask_bob["id"]) == ("filled", 1_000)
    assert status(cid, bid_cid["id"]) == ("filled", 2_500)
    assert status(dan, bid_dan["id"]) == ("partially_filled", 500)
    # What the trades cost stays reserved for settlement; the rest came back:
    # cid: 2,000 x 30 / 1000 + 500 x 30 / 1000 = 75 held; dan: 500 x 30 / 1000 = 15 held.
    assert available(stack, cid["accessToken"]) == 5_000 - 75
    assert available(stack, dan["accessToken"]) == 5_000 - 15
    board = stack.call("GET", "/v1/dashboard/stats", token=ann["accessToken"]).json()["data"]
    assert (board["energySoldWh"], board["earningsMinor"], board["openOrders"]) == (2_000, 50, 0)

    verified = gridshare(stack, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("ledger OK:"), verified.stdout
