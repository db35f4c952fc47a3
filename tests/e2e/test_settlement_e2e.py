"""Settlement through the running local stack, as its users and operators use it.

Four hosts with sites and meters (two prosumers selling, two households buying, two of them in a
community), two investors in one of the sites, orders for one delivery interval, clearing at gate
closure, meters streaming their counters over MQTT, `gridshare clock advance` past delivery and the
settlement lag: the `settlement-runs` schedule starts the state machine, and every wallet, the investors'
returns, the platform's revenue, the grid's legs and the energy credits are what the rules give by hand
(below, to the minor unit). The buyer, watching the `settlement` WebSocket topic meanwhile, receives
`settlement.completed` for the run, and finds its email in the outbox and its entry in the inbox. A second
run posts nothing; a reading that arrives after the run re-settles only what it changes (reversals and
reposts at revision 2); `gridshare ledger verify` holds throughout.

Runs on a stack of its own (`private_stack`): moving the clock would move it under every later test.

The hand computation (EUR cents, Wh; grid fee 5, retail 30 and imbalance 10 per kWh: the stack's
defaults). Interval I; asks: alice 2,000 Wh at 18 (site A, feed-in 7, investors ivan 2,000 and iris
1,000: 2:1), bob 1,000 Wh at 22 (site B, feed-in 6, no investors, community "valley": pro rata, 15);
bids: dave 2,000 Wh at 30 (site D), carol 1,000 Wh at 26 (site C, in "valley"). Clearing (pay as clear):
dave takes alice's 2,000, carol bob's 1,000; the marginal pair 26/22 clears at 24. Escrow held after
clearing: dave floor(2000 x 29 / 1000) = 58 (70 reserved, 12 released), carol 29 (31 reserved, 2 back).

Meters in I: A exports 750 Wh by the time the run reads it (1,500 once its last reading arrives), B
exports 2,000, C imports 1,700, D imports 2,500.

| | first run (A = 750) | after the late reading (A = 1,500) |
|---|---|---|
| t1 delivered / short | 750 / 1,250 | 1,500 / 500 |
| t1 seller floor(d x 24/1000) | 18: host 8, inv. 6 (ivan 4, iris 2), platform 4 | 36: 16, 13 (9, 4), 7 |
| t1 buyer floor(d x 29/1000), fee | 21, fee 3 | 43, fee 7 |
| t1 release (58 - paid) | 37 | 15 |
| t1 shortfall floor(short x 30/1000) (dave) | 37 | 15 |
| t1 imbalance floor(short x 10/1000) (alice) | 12 | 5 |
| t2 1,000 Wh: seller 24, fee 5 | bob 19 (10.8/8.4/4.8 + the investors' part), platform 5 | same |
| community B -> C: 1,700 - 1,000 bought = 700 Wh, floor(700 x 15/1000) = 10 | bob 8, platform 2 | same |
| feed-in B: 2,000 - 1,000 - 700 = 300 Wh x 6 = 1 | bob 1 | same |
| credits | minted A 750, B 2,000; burned C 1,700, D 750 | minted A 1,500; burned D 1,500 |

Wallets: alice 1,000 + 8 - 12 = 996 then 1,000 + 16 - 5 = 1,011; ivan 4 then 9; iris 2 then 4; bob 28;
carol 5,000 - 31 + 2 - 10 = 4,961; dave 5,000 - 70 + 12 + release - shortfall = 4,942 in both runs;
platform 11 then 14; every escrow and every credits account 0.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    Q,
    advance_past,
    available,
    balances,
    gridshare,
    iso,
    login,
    meter,
    order,
    site,
    stream,
    top_up,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

EXPORT, IMPORT = "energy_export_wh", "energy_import_wh"


def _run(stack: Stack, admin: str, run_id: str) -> dict[str, Any]:
    response = stack.call("GET", f"/v1/settlements/{run_id}", token=admin)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _settled(stack: Stack, admin: str, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = _run(stack, admin, run_id)
        assert run["status"] != "failed", run
        return run if run["status"] == "settled" else None

    return wait_for(done, f"run {run_id} settled", timeout=60)


def _admin_run(stack: Stack, admin: str, start: int, end: int) -> dict[str, Any]:
    started = stack.call("POST", "/v1/settlements", {"from": iso(start), "to": iso(end)}, token=admin)
    assert started.status_code == 202, started.text
    body = started.json()["data"]
    assert body["executionArn"] and body["status"] in ("pending", "running", "settled"), body
    return _settled(stack, admin, body["id"])


def _wallets(stack: Stack, people: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """name -> (EUR available, KWH credits)."""
    out = {}
    for name, who in people.items():
        held = balances(stack, who["accessToken"])
        out[name] = (held.get("EUR", 0), held.get("KWH", 0))
    return out


async def _completed(ws: ClientConnection, interval: str, timeout: float = 90.0) -> dict[str, Any]:
    """The next `settlement.completed` of a run that settled `interval` (runs of earlier windows are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if message["type"] == "settlement.completed" and interval in message["data"]["intervals"]:
            return dict(message)


def _settled_while_watching(stack: Stack, who: dict[str, Any], until: int, interval: str) -> dict[str, Any]:
    """Advance the clock past `until` (the settlement-runs schedule fires) while `who` watches `settlement`."""

    async def watch() -> dict[str, Any]:
        async with connect(f"{stack.ws}?token={who['accessToken']}") as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": ["settlement"]}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 15))
            assert reply == {**reply, "type": "subscribed", "data": {"topics": ["settlement"]}}, reply
            assert "settlement-runs" in await asyncio.to_thread(advance_past, stack, until)
            return await _completed(ws, interval)

    return asyncio.run(watch())


def _invest(stack: Stack, who: dict[str, Any], site_id: str, amount: int) -> None:
    made = stack.call(
        "POST", f"/v1/sites/{site_id}/investments", {"amount": amount, "currency": "EUR"}, token=who["accessToken"]
    )
    assert made.status_code == 201, made.text


def _returns(stack: Stack, who: dict[str, Any]) -> int:
    (row,) = stack.call("GET", "/v1/me/portfolio", token=who["accessToken"]).json()["data"]["sites"]
    return int(row["returns"])


def _platform_revenue(stack: Stack, admin: str) -> int:
    metrics = stack.call("GET", "/v1/admin/metrics", token=admin)
    assert metrics.status_code == 200, metrics.text
    return int(metrics.json()["data"]["platformRevenue"].get("EUR", 0))


def test_an_interval_is_settled_by_the_schedule_once_and_a_late_reading_resettles_only_the_difference(
    private_stack: Stack, tmp_path: Path
) -> None:
    stack = private_stack
    admin = stack.admin_token()
    alice, bob = stack.register("alice.stl@example.com"), stack.register("bob.stl@example.com")
    carol, dave = stack.register("carol.stl@example.com"), stack.register("dave.stl@example.com")
    ivan = stack.register("ivan.stl@example.com", "investor")
    iris = stack.register("iris.stl@example.com", "investor")
    site_a = site(stack, alice["accessToken"], "Sun", 8, feed_in=7)
    site_b = site(stack, bob["accessToken"], "Roof", 8, feed_in=6)
    site_c = site(stack, carol["accessToken"], "Flat", 3, feed_in=6)
    site_d = site(stack, dave["accessToken"], "Shop", 3, feed_in=6)
    meters = {
        "a": meter(stack, alice["accessToken"], site_a, "production"),
        "b": meter(stack, bob["accessToken"], site_b, "production"),
        "c": meter(stack, carol["accessToken"], site_c, "consumption"),
        "d": meter(stack, dave["accessToken"], site_d, "consumption"),
    }
    for who, amount in ((alice, 1_000), (carol, 5_000), (dave, 5_000), (ivan, 2_000), (iris, 1_000)):
        top_up(stack, who, amount)
    _invest(stack, ivan, site_a, 2_000)
    _invest(stack, iris, site_a, 1_000)
    valley = stack.call(
        "POST",
        "/v1/communities",
        {"name": "Valley", "sharing": {"rule": "pro_rata", "priceMinorPerKwh": 15, "currency": "EUR"}},
        token=bob["accessToken"],
    )
    assert valley.status_code == 201, valley.text
    for who, site_id, kind in ((bob, site_b, "producer"), (carol, site_c, "consumer")):
        member = {"userId": who["user"]["id"], "memberType": kind, "userType": "real", "siteId": site_id}
        added = stack.call(
            "POST", f"/v1/communities/{valley.json()['data']['id']}/members", member, token=bob["accessToken"]
        )
        assert added.status_code == 201, added.text

    # Orders for an interval 20-35 minutes ahead, cleared by the schedule once its gate closes
    interval = -(-(int(time.time() * 1000) + 20 * 60_000) // Q) * Q
    name = iso(interval)
    order(
        stack,
        alice,
        {"side": "ASK", "interval": name, "energyWh": 2_000, "limitPriceMinorPerKwh": 18, "siteId": site_a},
    )
    order(
        stack, bob, {"side": "ASK", "interval": name, "energyWh": 1_000, "limitPriceMinorPerKwh": 22, "siteId": site_b}
    )
    order(
        stack, dave, {"side": "BID", "interval": name, "energyWh": 2_000, "limitPriceMinorPerKwh": 30, "siteId": site_d}
    )
    order(
        stack,
        carol,
        {"side": "BID", "interval": name, "energyWh": 1_000, "limitPriceMinorPerKwh": 26, "siteId": site_c},
    )
    assert "market-clearing" in advance_past(stack, interval - 4 * 60_000)
    cleared = stack.call("GET", f"/v1/market/intervals/{name}", token=admin).json()["data"]
    assert (cleared["status"], cleared["clearingPrice"], cleared["tradeCount"]) == ("cleared", 24, 2), cleared
    assert (available(stack, dave["accessToken"]), available(stack, carol["accessToken"])) == (4_942, 4_971)

    # Delivery: the meters publish their counters for the interval (A's last reading is held back)
    advance_past(stack, interval + Q + 60_000)
    points = {
        "a": (EXPORT, [(interval + 1_000, 10_000), (interval + 450_000, 10_750)]),
        "b": (EXPORT, [(interval + 1_000, 20_000), (interval + Q - 1, 22_000)]),
        "c": (IMPORT, [(interval + 1_000, 5_000), (interval + Q - 1, 6_700)]),
        "d": (IMPORT, [(interval + 1_000, 8_000), (interval + Q - 1, 10_500)]),
    }
    owners = {"a": alice, "b": bob, "c": carol, "d": dave}
    for key, (counter, series) in points.items():
        stream(stack, meters[key], owners[key]["accessToken"], tmp_path / key, counter, series)

    # The schedule settles the interval once its delivery ended more than the lag (30 minutes) ago; dave's app
    # watches the `settlement` topic meanwhile
    pushed = _settled_while_watching(stack, dave, interval + Q + 46 * 60_000, iso(interval)[:-1] + ".000Z")
    # (the clock moved past the hour of everyone's access token)
    admin = stack.admin_token()
    alice, bob, carol, dave, ivan, iris = (
        login(stack, f"{who}.stl@example.com") for who in ("alice", "bob", "carol", "dave", "ivan", "iris")
    )

    def scheduled() -> dict[str, Any] | None:
        runs = stack.call("GET", "/v1/settlements", token=admin).json()["data"]
        mine = [r for r in runs if r["trigger"] == "schedule" and r["from"] <= name < r["to"]]
        return mine[0] if mine else None

    first = _settled(stack, admin, wait_for(scheduled, "a scheduled run covering the interval", timeout=60)["id"])
    assert (first["trades"], first["reversals"]) == (2, 0), first
    assert pushed["data"]["runId"] == first["id"] and pushed["data"]["statementDate"], pushed

    # Each party is told: dave's email names the run, and his inbox has its entry
    def emailed() -> list[dict[str, Any]] | None:
        mails = stack.call("GET", "/_local/outbox", params={"to": "dave.stl@example.com"}).json()["data"]
        return [m for m in mails if first["id"] in m["body"]] or None

    (mail,) = wait_for(emailed, "the settlement email in the outbox", timeout=30)
    assert mail["subject"].startswith("[INFO] Settlement completed"), mail
    inbox = stack.call("GET", "/v1/notifications", token=dave["accessToken"]).json()["data"]
    assert [(n["type"], n["runId"]) for n in inbox if n["runId"] == first["id"]] == [
        ("settlement.completed", first["id"])
    ], inbox
    people = {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "ivan": ivan, "iris": iris}
    assert _wallets(stack, people) == {
        "alice": (996, 0),
        "bob": (28, 0),
        "carol": (4_961, 0),
        "dave": (4_942, 0),
        "ivan": (4, 0),
        "iris": (2, 0),
    }
    assert first["totals"]["grid_fee"]["EUR"] == 3 + 5 and first["totals"]["shortfall"]["EUR"] == 37
    assert first["totals"]["imbalance"]["EUR"] == 12 and first["totals"]["mint"]["KWH"] == 2_750
    assert _platform_revenue(stack, admin) == 11
    assert (_returns(stack, ivan), _returns(stack, iris)) == (4, 2)

    # A second run of the same interval posts nothing
    again = _admin_run(stack, admin, interval, interval + Q)
    assert (again["postings"], again["reversals"]) == (0, 0), again

    # A's last reading arrives late: a re-run reverses and reposts only what it changes
    stream(stack, meters["a"], alice["accessToken"], tmp_path / "a2", EXPORT, [(interval + Q - 1, 11_500)], first_seq=3)
    corrected = _admin_run(stack, admin, interval, interval + Q)
    changed = {(p["kind"], p["revision"]) for p in corrected["postingList"] if not p["reverses"]}
    reversed_ = sorted(p["metadata"].get("reversedKind") for p in corrected["postingList"] if p["reverses"])
    assert reversed_ == sorted(["mint", "trade", "grid_fee", "release", "shortfall", "imbalance", "burn"]), reversed_
    assert changed == {(k, 2) for k in ("mint", "trade", "grid_fee", "release", "shortfall", "imbalance", "burn")}
    assert all(p["first"] for p in corrected["postingList"] if not p["reverses"])
    assert (corrected["postings"], corrected["reversals"]) == (14, 7), corrected
    assert _wallets(stack, people) == {
        "alice": (1_011, 0),
        "bob": (28, 0),
        "carol": (4_961, 0),
        "dave": (4_942, 0),
        "ivan": (9, 0),
        "iris": (4, 0),
    }
    assert _platform_revenue(stack, admin) == 14
    assert (_returns(stack, ivan), _returns(stack, iris)) == (9, 4)
    assert _admin_run(stack, admin, interval, interval + Q)["postings"] == 0

    # The statement of the day the push named (the run's postings are on it: after midnight when the
    # interval's settlement ran past one) shows the settlement lines, and the ledger verifies
    day = pushed["data"]["statementDate"]
    statement = stack.call("GET", "/v1/statements", params={"date": day}, token=dave["accessToken"])
    assert statement.status_code == 200, statement.text
    assert "settlement" in statement.text
    verified = gridshare(stack, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
