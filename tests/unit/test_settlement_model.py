"""bench/settlement_model.py: the model's arithmetic on a small fleet, so that it cannot rot.

The posting profile is computed by the real rules and ledger store on a small sample; CPU figures are
given, so nothing here depends on the machine's speed.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from bench.settlement_model import (
    CHILD_TRANSITIONS,
    INTERVALS_PER_DAY,
    PARENT_TRANSITIONS,
    SWEEP_WRU,
    SWEEPS_PER_SHARD,
    Params,
    Profile,
    model,
    profile,
)

SMALL = Params(meters=2_000, meters_per_site=2.0, shard_sites=100, concurrency=4, core_us=0.3, rules_us=100.0)


@pytest.fixture(scope="module")
def prof() -> Profile:
    return replace(profile(SMALL, sample_sites=300), rules_us=100.0)


def test_the_profile_comes_from_balanced_postings_and_netted_ledger_requests(prof: Profile) -> None:
    # every posting nets its entries per account: one head update and one entry per account, plus the
    # transaction item and the posting-history item
    assert prof.items_per_posting == pytest.approx(2 + 2 * prof.heads_per_posting)
    assert prof.heads_per_posting >= 2
    # transactional writes: at least 2 WRU per item
    assert prof.wru_per_posting >= 2 * prof.items_per_posting
    assert sum(prof.wru_by_table.values()) == pytest.approx(prof.wru_per_posting)
    # with no trade, a producer mints (and feeds in or shares); every exporting site mints exactly once
    assert prof.postings_by_kind["mint"] == pytest.approx(SMALL.exporting_share, abs=1 / 300)
    # the grid's KWH account is in every mint, feed-in and burn
    kwh = sum(prof.postings_by_kind.get(k, 0.0) for k in ("mint", "feed_in", "burn"))
    assert prof.hot_touches["grid:counterparty:KWH"] == pytest.approx(kwh)
    assert prof.max_items <= 100


def test_a_15_minute_run_and_its_day(prof: Profile) -> None:
    run = model(SMALL, prof, core_us=0.3)
    r, d = run.per_run, run.per_day
    shards = math.ceil(1_000 / 100)
    assert run.runs_per_day == INTERVALS_PER_DAY
    assert r["shards = Map child executions"] == shards
    assert r["state transitions"] == PARENT_TRANSITIONS + CHILD_TRANSITIONS * shards
    assert r["Lambda invocations"] == shards + 2
    # the rules' postings and, per shard, one sweep per clearing account (grid KWH, grid EUR, platform EUR)
    assert r["postings"] == pytest.approx(1_000 * prof.postings_per_site_interval + SWEEPS_PER_SHARD * shards)
    sweep_units = SWEEPS_PER_SHARD * shards * SWEEP_WRU
    assert r["DynamoDB WRU"] >= 1_000 * prof.postings_per_site_interval * prof.wru_per_posting + sweep_units
    for name in ("state transitions", "Lambda GB-s", "DynamoDB WRU", "DynamoDB RRU", "$ total"):
        assert d[name] == pytest.approx(r[name] * INTERVALS_PER_DAY)
    parts = ("$ Step Functions", "$ Lambda", "$ DynamoDB", "$ S3")
    assert r["$ total"] == pytest.approx(sum(r[p] for p in parts))
    assert r["$ DynamoDB"] == pytest.approx(r["DynamoDB WRU"] * 0.625e-6 + r["DynamoDB RRU"] * 0.125e-6)
    # 10 shards at 4 at a time: 3 waves of one shard's duration at least
    assert r["wall time, s"] >= 3 * r["SettleShard duration, s"]
    assert all(limit.ok for limit in run.limits), [lim for lim in run.limits if not lim.ok]


def test_gb_seconds_follow_memory_once_the_function_has_a_whole_vcpu(prof: Profile) -> None:
    one = model(replace(SMALL, lambda_mb=2_048), prof, core_us=0.3).per_run["Lambda GB-s"]
    two = model(replace(SMALL, lambda_mb=4_096), prof, core_us=0.3).per_run["Lambda GB-s"]
    assert two == pytest.approx(2 * one)


def test_a_daily_run_settles_the_same_postings_as_a_day_of_15_minute_runs(prof: Profile) -> None:
    quarter = model(SMALL, prof, core_us=0.3)
    daily = model(replace(SMALL, intervals_per_run=INTERVALS_PER_DAY), prof, core_us=0.3)
    assert daily.runs_per_day == 1
    assert daily.per_run["meter-intervals"] == 2_000 * INTERVALS_PER_DAY
    sweeps = SWEEPS_PER_SHARD * quarter.per_run["shards = Map child executions"] * INTERVALS_PER_DAY
    daily_sweeps = SWEEPS_PER_SHARD * daily.per_run["shards = Map child executions"]
    assert daily.per_day["postings"] - daily_sweeps == pytest.approx(quarter.per_day["postings"] - sweeps)
    # the same shards, 96 intervals each: fewer transitions and invocations a day
    assert daily.per_day["state transitions"] < quarter.per_day["state transitions"]


def test_per_shard_accounts_take_the_hot_head_off_the_postings(prof: Profile) -> None:
    big = replace(SMALL, meters=1_000_000)
    shared = model(replace(big, accounts="shared"), prof, core_us=0.3)
    per_shard = model(big, prof, core_us=0.3)  # the default: as built
    before, after = (next(lim for lim in run.limits if "serial posts" in lim.name) for run in (shared, per_shard))
    touches = 500_000 * max(prof.hot_touches.values())
    assert before.needed == pytest.approx(touches / big.deadline_s)
    assert not before.ok
    assert after.needed == pytest.approx(per_shard.per_run["shards = Map child executions"] / big.deadline_s)
    assert after.ok


def test_a_shards_reads_stay_the_same_as_the_fleet_grows_and_grew_with_it_before(prof: Profile) -> None:
    def reads(meters: int, how: str) -> float:
        run = model(replace(SMALL, meters=meters, reads=how), prof, core_us=0.3)  # type: ignore[arg-type]
        return run.per_run["SettleShard reads (requests)"]

    assert reads(200_000, "shard") == pytest.approx(reads(100_000, "shard"))
    assert reads(200_000, "run") > 1.9 * reads(100_000, "run")
    assert reads(100_000, "run") > 100 * reads(100_000, "shard")
