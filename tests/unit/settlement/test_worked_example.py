"""The worked example of docs/settlement.md, asserted to the minor unit and the Wh.

Two prosumer sites (alice's ``site-sun`` with investors ivan 3 / iris 1, bob's ``site-roof`` without,
in the community ``c-valley``), two consumers (carol's ``site-flat``, a member of ``c-valley``, and
dave's ``site-shop``), three trades, one short seller. Every figure below was computed by hand in the doc.
"""

from __future__ import annotations

from collections import defaultdict

from gridshare.settlement.postings import diff
from gridshare.settlement.rules import Community, IntervalInput, Site, Tariffs, Trade, settle

AT = 1_796_292_000_000  # 2026-12-03T10:00:00Z, 15-minute aligned


def trade(tid: str, buyer: str, bsite: str, seller: str, ssite: str, wh: int, price: int) -> Trade:
    return Trade(tid, f"{tid}-b", f"{tid}-s", buyer, bsite, seller, ssite, wh, price, 4)


def example() -> IntervalInput:
    return IntervalInput(
        AT,
        Tariffs("EUR", retail_minor_per_kwh=30, imbalance_minor_per_kwh=10),
        (
            Site("site-sun", "alice", 4501, 0, 7, {"ivan": 3, "iris": 1}),
            Site("site-roof", "bob", 2600, 100, 6, community_id="c-valley"),
            Site("site-flat", "carol", 0, 2700, community_id="c-valley"),
            Site("site-shop", "dave", 0, 5500),
        ),
        (
            trade("t1", "dave", "site-shop", "alice", "site-sun", 4000, 21),
            trade("t2", "carol", "site-flat", "alice", "site-sun", 2000, 19),
            trade("t3", "dave", "site-shop", "bob", "site-roof", 1000, 22),
        ),
        (Community("c-valley", 15),),
    )


def test_the_worked_example_to_the_minor_unit() -> None:
    result = settle(example())
    assert dict(result.delivered_wh) == {"t1": 3001, "t2": 1500, "t3": 1000}
    assert dict(result.shared_wh) == {("site-roof", "site-flat"): 700}
    assert dict(result.fed_in_wh) == {"site-roof": 800}

    by_id = {p.id: dict(((a, n) for a, _s, n in p.entries)) for p in result.postings}
    s = f"stl:{AT}:"
    assert by_id == {
        f"{s}alice:mint:site-sun:r1": {"grid:counterparty:KWH": -4501, "user:alice:credits:KWH": 4501},
        f"{s}bob:mint:site-roof:r1": {"grid:counterparty:KWH": -2500, "user:bob:credits:KWH": 2500},
        f"{s}dave:trade:t1:r1": {
            "user:dave:escrow:EUR": -63,
            "user:alice:wallet:EUR": 28,
            "user:ivan:wallet:EUR": 16,
            "user:iris:wallet:EUR": 6,
            "platform:revenue:EUR": 13,
            "user:alice:credits:KWH": -3001,
            "user:dave:credits:KWH": 3001,
        },
        f"{s}carol:trade:t2:r1": {
            "user:carol:escrow:EUR": -28,
            "user:alice:wallet:EUR": 13,
            "user:ivan:wallet:EUR": 7,
            "user:iris:wallet:EUR": 3,
            "platform:revenue:EUR": 5,
            "user:alice:credits:KWH": -1500,
            "user:carol:credits:KWH": 1500,
        },
        f"{s}dave:trade:t3:r1": {
            "user:dave:escrow:EUR": -22,
            "user:bob:wallet:EUR": 18,
            "platform:revenue:EUR": 4,
            "user:bob:credits:KWH": -1000,
            "user:dave:credits:KWH": 1000,
        },
        f"{s}dave:grid_fee:t1:r1": {"user:dave:escrow:EUR": -12, "grid:counterparty:EUR": 12},
        f"{s}carol:grid_fee:t2:r1": {"user:carol:escrow:EUR": -6, "grid:counterparty:EUR": 6},
        f"{s}dave:grid_fee:t3:r1": {"user:dave:escrow:EUR": -4, "grid:counterparty:EUR": 4},
        f"{s}dave:release:t1:r1": {"user:dave:escrow:EUR": -25, "user:dave:wallet:EUR": 25},
        f"{s}carol:release:t2:r1": {"user:carol:escrow:EUR": -12, "user:carol:wallet:EUR": 12},
        f"{s}bob:feed_in:site-roof:r1": {
            "grid:counterparty:EUR": -4,
            "user:bob:wallet:EUR": 3,
            "platform:revenue:EUR": 1,
            "user:bob:credits:KWH": -800,
            "grid:counterparty:KWH": 800,
        },
        f"{s}carol:community:site-roof.site-flat:r1": {
            "user:carol:wallet:EUR": -10,
            "user:bob:wallet:EUR": 8,
            "platform:revenue:EUR": 2,
            "user:bob:credits:KWH": -700,
            "user:carol:credits:KWH": 700,
        },
        f"{s}dave:shortfall:t1:r1": {"user:dave:wallet:EUR": -29, "grid:counterparty:EUR": 29},
        f"{s}carol:shortfall:t2:r1": {"user:carol:wallet:EUR": -15, "grid:counterparty:EUR": 15},
        f"{s}alice:imbalance:t1:r1": {"user:alice:wallet:EUR": -9, "grid:counterparty:EUR": 9},
        f"{s}alice:imbalance:t2:r1": {"user:alice:wallet:EUR": -5, "grid:counterparty:EUR": 5},
        f"{s}carol:burn:site-flat:r1": {"user:carol:credits:KWH": -2200, "grid:counterparty:KWH": 2200},
        f"{s}dave:burn:site-shop:r1": {"user:dave:credits:KWH": -4001, "grid:counterparty:KWH": 4001},
    }

    net: dict[str, int] = defaultdict(int)
    for p in result.postings:
        for account, _asset, amount in p.entries:
            net[account] += amount
    assert {a: n for a, n in net.items() if n} == {
        "user:alice:wallet:EUR": 27,
        "user:ivan:wallet:EUR": 23,
        "user:iris:wallet:EUR": 9,
        "user:bob:wallet:EUR": 29,
        "platform:revenue:EUR": 25,
        "user:carol:wallet:EUR": -13,
        "user:carol:escrow:EUR": -46,
        "user:dave:wallet:EUR": -4,
        "user:dave:escrow:EUR": -126,
        "grid:counterparty:EUR": 76,
    }


def test_the_worked_example_rerun_posts_nothing_and_a_correction_only_the_difference() -> None:
    first = list(settle(example()).postings)
    assert diff(first, list(settle(example()).postings)) == []
    assert diff([], first) == first

    # A late reading: alice exported 4600 Wh, not 4501; her trades are still short
    # (6000 > 4600 -> t1 3067, t2 1533): every posting that depends on alice's delivery is revised, including
    # the fee and imbalance of t1, whose amounts are unchanged but whose delivered Wh (their statement line) is.
    corrected = example()
    sun = corrected.sites[0]
    fixed = IntervalInput(
        corrected.interval,
        corrected.tariffs,
        (Site(sun.id, sun.host_id, 4600, 0, 7, sun.investor_shares), *corrected.sites[1:]),
        corrected.trades,
        corrected.communities,
    )
    changes = diff(first, list(settle(fixed).postings))
    kinds = sorted((p.kind, p.ref) for p in changes if p.kind != "reversal")
    assert kinds == sorted(
        [("mint", "site-sun"), ("burn", "site-flat"), ("burn", "site-shop")]
        + [(k, t) for k in ("trade", "grid_fee", "release", "shortfall", "imbalance") for t in ("t1", "t2")]
    )  # t3, the community sale and bob's feed-in are untouched
    dave_t1 = next(p for p in changes if p.key[2:] == ("trade", "t1") and p.kind == "trade")
    assert dave_t1.amount("user:dave:escrow:EUR") == -64  # floor(3067 * 21 / 1000)
    reversals = [p for p in changes if p.kind == "reversal"]
    reposts = [p for p in changes if p.kind != "reversal"]
    assert {p.reverses for p in reversals} == {p.first for p in reposts}
    assert all(p.revision == 2 and p.id.endswith(":r2") for p in reposts)
    assert diff(first + changes, list(settle(fixed).postings)) == []
