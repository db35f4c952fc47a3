"""A settlement run end to end in-process: the real state machine file on moto's interpreter, the real
handlers as its Lambda tasks, inputs made through the services (sites, meters' rollups, investors, a
community, orders cleared by the market). Checked: the ledger against the rules' postings, `ledger verify`,
a second run posting nothing, a corrected reading re-settled as reversal + repost, and a shard that fails
mid-way finishing, on retry, with the same ledger as a clean run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.kernel import clock
from tests.support.settlement import INTERVAL, T0, Market, fund, ledger_snapshot, put_rollup, run_to_end

pytestmark = pytest.mark.usefixtures("settlement_sfn")


@pytest.fixture
def world() -> Iterator[tuple[Market, clock.FrozenClock]]:
    """alice's plant (investors ivan 3 : iris 1) sells to dave's shop; bob's roof and carol's flat share in a
    community. 3,000 Wh exported against a 4,000 Wh trade: a shortfall."""
    with clock.frozen(T0 - 20 * 60_000) as frozen:
        market = Market()
        market.site("sun", "alice")
        market.site("shop", "dave", role="consumption")
        market.site("roof", "bob")
        market.site("flat", "carol", role="consumption")
        market.invest("ivan", "sun", 300)
        market.invest("iris", "sun", 100)
        market.community("referent-1", 15, {"bob": "roof", "carol": "flat"})
        fund("dave", 10_000)
        fund("carol", 1_000)
        market.order("alice", "ASK", T0, 4_000, 18, "sun")
        market.order("dave", "BID", T0, 4_000, 24, "shop")
        frozen.set(T0 - 4 * 60_000)  # past the gate
        market.clear(T0)
        put_rollup("meter-sun", T0, export_wh=3_000)
        put_rollup("meter-shop", T0, import_wh=5_000)
        put_rollup("meter-roof", T0, export_wh=2_000)
        put_rollup("meter-flat", T0, import_wh=700)
        frozen.set(T0 + INTERVAL + 60_000)  # delivery ended
        yield market, frozen


def expected_postings(market: Market, sun_export: int = 3_000) -> list[Any]:
    """The rules' postings for the world, built by hand (not through the run's input reader)."""
    from gridshare.market.service import market_service
    from gridshare.settlement import rules as R

    s = market.sites
    (trade,) = market_service().trades_for_settlement(T0)
    community = next(iter(_communities()))
    return list(
        R.settle(
            R.IntervalInput(
                T0,
                R.Tariffs("EUR", 30, 10),
                (
                    R.Site(s["sun"], "alice", sun_export, 0, 6, {"ivan": 300, "iris": 100}),
                    R.Site(s["shop"], "dave", 0, 5_000, 6),
                    R.Site(s["roof"], "bob", 2_000, 0, 6, community_id=community),
                    R.Site(s["flat"], "carol", 0, 700, 6, community_id=community),
                ),
                (
                    R.Trade.from_clearing(
                        trade, buyer_id="dave", buyer_site_id=s["shop"], seller_id="alice", seller_site_id=s["sun"]
                    ),
                ),
                (R.Community(community, 15),),
            )
        ).postings
    )


def _communities() -> list[str]:
    from gridshare.communities.models import CommunityModel

    return [c.id for c in CommunityModel.scan()]


def balances() -> dict[tuple[str, str], int]:
    from gridshare.ledger.store import LedgerStore

    return LedgerStore().balances()


def verify() -> list[Any]:
    from gridshare.ledger.store import LedgerStore

    return LedgerStore().verify()


def net(postings: list[Any]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for p in postings:
        for account, asset, amount in p.entries:
            out[account, asset] = out.get((account, asset), 0) + amount
    return out


def test_a_run_settles_the_interval_as_the_rules_say_and_a_second_run_posts_nothing(world: Any) -> None:
    market, _ = world
    before = balances()
    described, run = run_to_end(T0, T0 + INTERVAL)
    assert described["status"] == "SUCCEEDED", described
    expected = expected_postings(market)
    assert run["status"] == "settled" and run["intervals"] == 1 and run["trades"] == 1
    assert sorted(p["id"] for p in run["postingList"]) == sorted(p.id for p in expected)
    assert run["postings"] == len(expected) and run["reversals"] == 0
    assert {"trade", "shortfall", "imbalance", "community", "feed_in", "mint", "burn"} <= set(run["totals"])
    after = balances()
    for key, amount in net(expected).items():
        assert after.get(key, 0) - before.get(key, 0) == amount, key
    assert after[("user:dave:escrow:EUR", "EUR")] == 0  # payment + release used the whole reservation
    from gridshare.wallets.service import site_returns

    for investor in ("ivan", "iris"):  # investors' returns in their portfolio: their part of the sun's sales
        part = net(expected)[(f"user:{investor}:wallet:EUR", "EUR")]
        assert part > 0 and site_returns(investor, {"EUR"}) == {market.sites["sun"]: {"EUR": part}}
    assert verify() == []
    from gridshare.market.service import market_service

    assert market_service().store.interval(T0).status == "settled"  # type: ignore[union-attr]

    # a second run over the same window: nothing new
    ledger = ledger_snapshot()
    described, again = run_to_end(T0, T0 + INTERVAL)
    assert described["status"] == "SUCCEEDED", described
    assert (again["status"], again["postings"], again["postingList"]) == ("settled", 0, [])
    assert ledger_snapshot() == ledger


def test_a_corrected_reading_resettles_only_the_difference(world: Any) -> None:
    market, _ = world
    before = balances()
    run_to_end(T0, T0 + INTERVAL)
    first = {p.id for p in expected_postings(market)}
    put_rollup("meter-sun", T0, export_wh=3_600)  # a late reading: more was delivered
    described, corrected = run_to_end(T0, T0 + INTERVAL)
    assert described["status"] == "SUCCEEDED", described
    reversals = [p for p in corrected["postingList"] if p["kind"] == "reversal"]
    reposts = [p for p in corrected["postingList"] if p["kind"] != "reversal"]
    assert reversals and reposts and corrected["reversals"] == len(reversals)
    assert all(p["reverses"] in first for p in reversals)
    assert all(p["revision"] == 2 and p["first"] in first for p in reposts)
    # bob's and carol's community sale and bob's feed-in did not change: not touched
    untouched = {p for p in first if ":community:" in p or (":feed_in:" in p and market.sites["roof"] in p)}
    assert untouched and not untouched & {p["reverses"] for p in reversals}
    after = balances()
    corrected_net = net(expected_postings(market, sun_export=3_600))
    for key, amount in corrected_net.items():
        assert after.get(key, 0) - before.get(key, 0) == amount, key
    from gridshare.wallets.service import site_returns

    # the reversed sale and its repost leave the investor's returns at the corrected run's part
    assert site_returns("ivan", {"EUR"}) == {
        market.sites["sun"]: {"EUR": corrected_net[("user:ivan:wallet:EUR", "EUR")]}
    }
    assert verify() == []


def test_a_shard_that_fails_mid_way_is_retried_and_ends_with_the_same_ledger(world: Any) -> None:
    from gridshare.settlement.service import SettlementService, settlement_service

    market, _ = world
    service = SettlementService()
    calls = {"n": 0}

    def crash_once(posting: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # after the third posting of the run: the shard's Lambda dies mid-way
            raise RuntimeError("injected fault mid-shard")

    service.runs.after_posting = crash_once
    with settlement_service.override(service):
        described, run = run_to_end(T0, T0 + INTERVAL)
    assert described["status"] == "SUCCEEDED", described
    assert calls["n"] > 3  # the retry went on past the fault
    expected = expected_postings(market)
    posted = ledger_snapshot()
    assert {p.id for p in expected} <= set(posted)
    assert sorted(t for t in posted if t.startswith("stl:")) == sorted(p.id for p in expected)
    assert run["status"] == "settled" and verify() == []
    # the grid and platform legs went through each shard's clearing accounts, swept to 0 once each
    cleared = {account: b for (account, _), b in balances().items() if account.startswith("clearing:")}
    assert cleared and not any(cleared.values())
    sweeps = [t for t in posted if t.startswith("sweep:")]
    assert sweeps and all(t.endswith(":s1") for t in sweeps)
    shared = net(expected)
    for key in (("grid:counterparty:KWH", "KWH"), ("grid:counterparty:EUR", "EUR"), ("platform:revenue:EUR", "EUR")):
        assert balances().get(key, 0) == shared.get(key, 0), key


def test_the_schedule_settles_what_was_delivered_more_than_the_lag_ago_once(world: Any) -> None:
    from functions.settlement.scheduler import handler
    from gridshare.settlement.service import settlement_service
    from gridshare_local.lambda_runtime import LambdaContext
    from tests.support.settlement import finished

    _, frozen = world
    frozen.set(T0 + INTERVAL + 1_800_000 - 1)  # delivery ended, but not 30 minutes ago yet: an earlier window
    early = handler({}, LambdaContext("settlement-runs"))["run"]
    assert early == f"stl-{T0 - INTERVAL}-{T0}"
    finished(settlement_service().get(early)["executionArn"])
    frozen.set(T0 + INTERVAL + 1_800_000 + 60_000)
    first = handler({}, LambdaContext("settlement-runs"))["run"]
    assert first == f"stl-{T0}-{T0 + INTERVAL}"
    run = settlement_service().get(first)
    assert finished(run["executionArn"])["status"] == "SUCCEEDED"
    assert settlement_service().get(first)["status"] == "settled"
    # the same tick again starts nothing; 15 minutes later, the next interval
    assert handler({}, LambdaContext("settlement-runs")) == {"run": None}
    frozen.advance(900)
    assert handler({}, LambdaContext("settlement-runs"))["run"] == f"stl-{T0 + INTERVAL}-{T0 + 2 * INTERVAL}"


def test_statements_show_settlement_lines_with_what_they_settled(world: Any) -> None:
    from datetime import UTC, datetime

    from gridshare.wallets.service import wallet_service

    run_to_end(T0, T0 + INTERVAL)
    day = datetime.fromtimestamp(T0 / 1000, tz=UTC).date()
    (eur, *_) = wallet_service().statements.statement("dave", day)["statements"]
    lines = [line for line in eur["lines"] if line["type"] == "settlement"]
    kinds = {line["settlement"]["kind"]: line for line in lines}
    assert {"release", "shortfall"} <= set(kinds)
    assert kinds["shortfall"]["settlement"]["shortfallWh"] == 1_000
    assert kinds["shortfall"]["settlement"]["interval"] == T0
    assert kinds["shortfall"]["amount"] == -30  # 1,000 Wh at the retail 30 per kWh


def test_a_shard_that_keeps_failing_fails_the_run_with_its_cause(world: Any) -> None:
    """moto's Distributed Map goes on after a shard failed for good (decision 0022): Finalize finds the
    shard's completion record missing and fails, and MarkFailed records why."""
    from gridshare.settlement.service import SettlementService, settlement_service

    service = SettlementService()

    def always(posting: Any) -> None:
        raise RuntimeError("the ledger is on fire")

    service.runs.after_posting = always
    with settlement_service.override(service):
        described, run = run_to_end(T0, T0 + INTERVAL)
    assert described["status"] == "FAILED" and described.get("error") == "SettlementFailed"
    assert run["status"] == "failed" and run["finishedAt"]
    assert "shards not settled" in run["failure"]["cause"]
    assert verify() == []  # whole postings only
