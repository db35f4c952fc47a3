"""SettleShard reads only its own shard: its sites by id, the communities of its sites, the trades between
its sites (a virtual site included), and gives the rules exactly the inputs the whole-run read gives them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.kernel import clock
from tests.support.settlement import INTERVAL, T0, Market, fund, put_rollup

pytestmark = pytest.mark.usefixtures("settlement_sfn")


@pytest.fixture
def world() -> Iterator[Market]:
    """alice's plant sells to dave's shop; bob's roof and carol's flat share in a community, and bob also
    sells to erin, whose BID names no site (her virtual site); gus's lake trades with nobody."""
    with clock.frozen(T0 - 20 * 60_000) as frozen:
        market = Market()
        market.site("sun", "alice")
        market.site("shop", "dave", role="consumption")
        market.site("roof", "bob")
        market.site("flat", "carol", role="consumption")
        market.site("lake", "gus")
        market.invest("ivan", "sun", 300)
        market.community("referent-1", 15, {"bob": "roof", "carol": "flat"})
        fund("dave", 10_000)
        fund("erin", 10_000)
        market.order("alice", "ASK", T0, 4_000, 18, "sun")
        market.order("dave", "BID", T0, 4_000, 24, "shop")
        market.order("bob", "ASK", T0, 500, 17, "roof")
        market.order("erin", "BID", T0, 500, 24, None)
        frozen.set(T0 - 4 * 60_000)
        market.clear(T0)
        for name, export, imp in (("sun", 3_000, 0), ("shop", 0, 5_000), ("roof", 2_000, 0), ("flat", 0, 700)):
            put_rollup(f"meter-{name}", T0, export_wh=export, import_wh=imp)
        put_rollup("meter-lake", T0, export_wh=400)
        frozen.set(T0 + INTERVAL + 60_000)
        yield market


def test_a_shard_reads_its_own_sites_and_gets_the_same_inputs_as_the_whole_run(
    world: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridshare.communities.store import CommunityStore
    from gridshare.market.store import MarketStore
    from gridshare.settlement.inputs import InputReader
    from gridshare.settlement.shards import shards
    from gridshare.sites.store import SiteStore

    reader = InputReader()
    whole = reader.read([T0])
    manifest = shards(whole.sites, whole.links(), whole.groups(), 2)
    assert any(any(s.startswith("u.") for s in shard) for shard in manifest)  # erin's virtual site
    assert sum(1 for t in whole.trades[T0] if t["buyerSiteId"].startswith("u.")) == 1
    assert whole.trades_by_shard(manifest) == [whole.trade_ids(shard) for shard in manifest]
    assert sorted(i for ids in whole.trades_by_shard(manifest) for i in ids) == sorted(
        t["id"] for t in whole.trades[T0]
    )

    def whole_scan(*_: Any, **__: Any) -> Any:
        raise AssertionError("a shard scanned a whole table")

    monkeypatch.setattr(SiteStore, "all", whole_scan)
    monkeypatch.setattr(CommunityStore, "page_all", whole_scan)
    asked: list[list[str]] = []
    many = SiteStore.many
    monkeypatch.setattr(SiteStore, "many", lambda self, ids: asked.append(sorted(ids)) or many(self, ids))
    for shard in manifest:
        for trade_ids in (whole.trade_ids(shard), None):  # the manifest's trade ids, or per-interval reads
            asked.clear()
            mine = reader.read_shard([T0], shard, trade_ids)
            assert asked[0] == sorted(shard)  # its own sites, by id
            assert set(mine.sites) == set(shard)
            assert {c["id"] for c in mine.communities} == {
                c["id"] for c in whole.communities if set(c["sites"]) & set(shard)
            }
            assert all(t["buyerSiteId"] in shard and t["sellerSiteId"] in shard for t in mine.trades[T0])
            metered = reader.metered(mine, shard, T0, 1)[T0]
            assert reader.interval_input(mine, T0, shard, metered) == reader.interval_input(
                whole, T0, shard, reader.metered(whole, shard, T0, 1)[T0]
            )
        with monkeypatch.context() as m:  # with the manifest's ids, the interval's trades are not listed
            m.setattr(MarketStore, "trades_of_interval", whole_scan)
            assert reader.read_shard([T0], shard, whole.trade_ids(shard)).trades == {
                T0: [t for t in whole.trades[T0] if t["id"] in whole.trade_ids(shard)]
            }


def test_the_history_of_a_shards_parties_is_their_postings_only_reversals_included() -> None:
    from gridshare.settlement.postings import diff, posting
    from gridshare.settlement.store import SettlementStore

    store = SettlementStore()
    made = []
    for party, amount in (("ann", 5), ("annie", 7), ("bob", 9)):
        p = posting(
            T0,
            party,
            "shortfall",
            "t1",
            [(f"user:{party}:wallet:EUR", "EUR", -amount), ("grid:counterparty:EUR", "EUR", amount)],
        )
        assert p is not None
        made.append(p)
    (undo,) = diff(made, made[1:])  # ann's posting reversed
    for p in (*made, undo):
        store.record(p, form="wallet", run_id="r", at=T0)
    ids = sorted(item.id for item in store.history(T0, ["ann"]))
    assert ids == sorted([made[0].id, undo.id])
    assert {item.id for item in store.history(T0, ["ann", "bob"])} == {made[0].id, undo.id, made[2].id}
    assert len(store.history(T0)) == 4
