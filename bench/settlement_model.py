"""Cost and time model of settlement runs at fleet scale on AWS (issue 14 item 5; docs/scaling.md, "Settlement").

A model, not a measurement: it multiplies what one settlement run does per meter, site, posting and shard
by list prices and by the limits AWS documents. Two things in it are computed by the code itself:

- **the posting profile**: a sample interval of ``--sample-sites`` sites is drawn with the given shares
  (sites exporting, trading, short, in a community, investors per site) and settled by the real rules
  (``settlement.rules.settle`` then ``postings.diff`` against an empty history); every posting is turned
  into the ledger transaction it becomes and the real ``LedgerStore`` builds its TransactWriteItems
  request, whose items are sized as DynamoDB bills them. So postings per site-interval, account heads and
  entries per posting, write units per posting and the share of postings that touch the grid and platform
  accounts come from the rules and the store, not from a guess;
- **CPU per unit** (unless passed): the settlement metering core per meter-interval (the same work as
  ``bench/bench_settlement.py``: decoding rollup items, site energy, delivery), and the rules + diff + the
  ledger request per site-interval, timed in this process (``time.process_time``, one core).

Everything else is an assumption with a flag: latencies (one ledger post = a consistent BatchGetItem of its
account heads + one TransactWriteItems, sequential within a shard), bytes read per meter-interval, the
Prepare step's cost per site. The run it models (decisions 0022, 0023, 0028,
``state_machines/settlement.asl.json``): a schedule starts a STANDARD execution; Prepare reads the whole
registry once, groups sites into shards (connected components over the intervals' trades and community
membership, packed to at most ``--shard-sites`` sites) and writes them as a JSON manifest to S3 (each
item: the shard's site ids and the ids of the trades between them); a Distributed Map (S3 ItemReader,
MaxConcurrency) runs SettleShard per shard: it reads its meters' rollups, its sites by id, its trades by
id, its hosts' communities and its hosts' posting history (``--reads shard``; ``--reads run``: every shard
reads the whole run's inputs, as before decision 0028), computes the postings, diffs them and posts each
one as one ledger transaction, with a posting-history item in the same TransactWriteItems, its grid and
platform legs on clearing accounts of the run and shard (``--accounts per_shard``; ``--accounts shared``:
on the one grid and platform account, as before decision 0028), sweeps each clearing account into the
shared account (3 postings a shard) and writes a shard completion record; Finalize checks every shard
and writes the totals.

Prices (us-east-1 list prices): Step Functions Standard $0.025 per 1,000 state transitions; Lambda
$0.0000166667 per GB-s (x86) and $0.20 per million requests; DynamoDB on demand $0.625 per million write
request units, $0.125 per million read request units (a transactional write costs 2 WRU per KB); S3
Standard PUT $0.005 and GET $0.0004 per 1,000 requests.

    python bench/settlement_model.py                       # 1,000,000 meters: every 15 minutes and daily
    python bench/settlement_model.py --before              # and the design before decision 0028
    python bench/settlement_model.py --exporting-share 0.5 # a midday interval
    python bench/settlement_model.py --accounts shared     # grid/platform legs on the shared accounts
    python bench/settlement_model.py --core-us 0.33 --rules-us 120   # no timing, given CPU figures
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "layers" / "gridshare", ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from gridshare.ledger.core import AccountHead, Entry, Transaction, net_by_account  # noqa: E402
from gridshare.ledger.store import LedgerStore  # noqa: E402
from gridshare.settlement.postings import KINDS, diff  # noqa: E402
from gridshare.settlement.rules import Community, IntervalInput, Site, Tariffs, Trade, settle  # noqa: E402

# ------------------------------------------------------------------ prices and limits
PRICE_TRANSITION = 0.025 / 1000
PRICE_GB_S = 0.0000166667
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_WRU = 0.625 / 1_000_000
PRICE_RRU = 0.125 / 1_000_000
PRICE_S3_PUT = 0.005 / 1000
PRICE_S3_GET = 0.0004 / 1000

MAP_MAX_CONCURRENCY = 10_000  # Distributed Map: parallel child executions
PAYLOAD_MAX = 256 * 1024  # a Map item, a state's input/output, a Lambda result through Step Functions
LAMBDA_CONCURRENCY = 1_000  # default per account and region, shared by every function
LAMBDA_TIMEOUT_S = 900
PARTITION_WCU = 1_000  # per partition (one key: an account head, one account's entry chain)
PARTITION_RCU = 3_000
TABLE_WRU_S = 40_000  # on-demand default table-level throughput quota (raisable)
TRANSACT_ITEMS = 100  # TransactWriteItems
HISTORY_EVENTS = 25_000  # a STANDARD execution's event history
FULL_VCPU_MB = 1_769  # Lambda memory at which a function has one whole vCPU

PARENT_TRANSITIONS = 5  # start, Prepare, SettleShards (map run), Finalize, end
CHILD_TRANSITIONS = 2  # start, SettleShard
PARENT_EVENTS = 25  # the parent's history: its task states and the map run's start/end events
SWEEPS_PER_SHARD = 3  # --accounts per_shard: clearing grid KWH, grid EUR, platform EUR, one sweep posting each
SWEEP_WRU = 2 * (1 + 2 + 2)  # a sweep: the transaction item, 2 head updates, 2 entries (transactional: x2)
SWEEP_RRU = 1 + 1 + 2  # the next sweep id looked up, the clearing balance, the post's 2 heads (consistent)
TRADE_ITEM_BYTES = 300

START = 1_796_292_000_000
INTERVALS_PER_DAY = 96
KB = 1024
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
HOT_ACCOUNTS = ("grid:counterparty:KWH", "grid:counterparty:EUR", "platform:revenue:EUR")

Accounts = Literal["shared", "per_shard"]
Reads = Literal["run", "shard"]


@dataclass(frozen=True)
class Params:
    """The fleet, its behaviour in an interval, the run's configuration and the assumed latencies."""

    meters: int = 1_000_000
    meters_per_site: float = 2.0
    """Devices with rollups per site (a grid meter and a production meter; consumers have one, batteries add one)."""
    exporting_share: float = 0.2
    """Sites with net export in an interval, averaged over the day (about half the sites produce, ~40 % of
    the day's intervals in export)."""
    trading_share: float = 0.1
    """Sites with a market trade in an interval (as seller or buyer): trades = sites * share / 2."""
    short_share: float = 0.2
    """Trades whose seller exports less than it sold (shortfall, imbalance, release)."""
    community_share: float = 0.2
    community_size: int = 25
    investors_per_site: int = 1
    intervals_per_run: int = 1
    shard_sites: int = 500
    concurrency: int = 100
    lambda_mb: int = 1_769
    accounts: Accounts = "per_shard"
    """``per_shard`` (as built, decision 0028): a shard's grid and platform legs go to clearing accounts of
    its run and shard, and one sweep per account and shard moves them to the shared accounts;
    ``shared``: every posting's legs on the one grid and platform account (before decision 0028)."""
    reads: Reads = "shard"
    """``shard`` (as built): a shard reads its sites by id, its trades by id (the manifest's), the
    communities of its hosts, the posting history of its hosts (a Query per host and interval); ``run``
    (before decision 0028): every shard read every site (with its devices and investments), every
    community, every trade of its intervals (with both orders) and the intervals' whole posting history."""
    post_ms: float = 30.0
    """One ledger post: consistent BatchGetItem of its heads + TransactWriteItems, one after another."""
    read_ms: float = 10.0
    read_parallel: int = 16
    """Reads (rollup queries, sites, history) in flight per SettleShard."""
    bytes_per_meter_interval: int = 250
    """Rollup bytes read per meter and interval (a 15-minute meter's raw readings for an hour not stored
    yet, ~250 bytes each; a stored hour item holds four intervals in ~400 bytes)."""
    site_item_bytes: int = 1_000
    history_item_bytes: int = 400
    prepare_us_per_site: float = 50.0
    """Prepare: registry scan, components over trades and communities, manifest, per site (assumed)."""
    deadline_s: float = 900.0
    """The time a run may take: the next 15-minute run starts after 900 s."""
    core_us: float | None = None
    """CPU per meter-interval of the metering core; None: timed here."""
    rules_us: float | None = None
    """CPU per site-interval of rules + diff + ledger requests; None: timed on the sample."""

    @property
    def sites(self) -> int:
        return math.ceil(self.meters / self.meters_per_site)


@dataclass(frozen=True)
class Profile:
    """Per site-interval and per posting figures from the rules and the ledger store, on a sample interval."""

    sample_sites: int
    postings_by_kind: dict[str, float]
    """Postings per site-interval, by kind."""
    heads_per_posting: float
    items_per_posting: float
    """TransactWriteItems items per posting: transaction + heads + entries + the posting-history item."""
    max_items: int
    wru_per_posting: float
    wru_by_table: dict[str, float]
    hot_touches: dict[str, float]
    """Postings per site-interval that touch each grid/platform account."""
    rules_us: float
    """CPU per site-interval: settle + diff + building the ledger requests (timed on the sample)."""

    @property
    def postings_per_site_interval(self) -> float:
        return sum(self.postings_by_kind.values())


# ------------------------------------------------------------------ the sample interval and its profile
def sample_interval(params: Params, sites: int, seed: int = 7) -> IntervalInput:
    """One interval of ``sites`` sites with the shares of ``params``; ids as the platform makes them: users
    are Cognito subs (UUIDs), sites, trades, orders and communities ULIDs (``kernel.ids.new_id``)."""
    rng = random.Random(seed)

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128)))

    def ulid() -> str:
        return "".join(rng.choices(CROCKFORD, k=26))

    exporting = round(sites * params.exporting_share)
    members = rng.sample(range(sites), round(sites * params.community_share))
    community_of: dict[int, str] = {}
    communities: list[Community] = []
    for start in range(0, len(members), params.community_size):
        community = Community(ulid(), 15)
        communities.append(community)
        community_of.update(dict.fromkeys(members[start : start + params.community_size], community.id))
    out: list[Site] = []
    for n in range(sites):
        if n < exporting:
            export_wh, import_wh = rng.randrange(300, 2_000), rng.randrange(0, 100)
        else:
            export_wh, import_wh = 0, rng.randrange(100, 2_000)
        investors = {uid(): rng.randrange(1, 5) for _ in range(params.investors_per_site)}
        out.append(Site(ulid(), uid(), export_wh, import_wh, 7, investors, "host", community_of.get(n)))
    n_trades = min(round(sites * params.trading_share / 2), exporting, sites - exporting)
    trades: list[Trade] = []
    for seller_n, buyer_n in zip(
        rng.sample(range(exporting), n_trades), rng.sample(range(exporting, sites), n_trades), strict=True
    ):
        seller, buyer = out[seller_n], out[buyer_n]
        net = seller.net_export
        wh = net + rng.randrange(1, 500) if rng.random() < params.short_share else rng.randrange(1, net + 1)
        trades.append(Trade(ulid(), ulid(), ulid(), buyer.host_id, buyer.id, seller.host_id, seller.id, wh, 20, 4))
    return IntervalInput(START, Tariffs("EUR", 30, 10), tuple(out), tuple(trades), tuple(communities))


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    return len(json.dumps(inner))


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item in its typed JSON: attribute names + values (numbers ~ digits / 2 + 1)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _written_item(action: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(table, the item an action leaves): a put's item, an update's key + every attribute it sets or adds."""
    if "Put" in action:
        return action["Put"]["TableName"], action["Put"]["Item"]
    update = action["Update"]
    names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    item = dict(update["Key"])
    for part in update["UpdateExpression"].replace("ADD", ",").replace("SET", ",").split(","):
        tokens = part.replace("=", " ").split()
        if len(tokens) == 2:
            item[names.get(tokens[0], tokens[0])] = values[tokens[1]]
    return update["TableName"], item


def profile(params: Params, sample_sites: int = 2_000, seed: int = 7) -> Profile:
    """Settle a sample interval with the real rules and size the real ledger requests (module docstring)."""
    inp = sample_interval(params, sample_sites, seed)
    store = LedgerStore(clock=lambda: START)
    cpu = time.process_time()
    postings = diff([], settle(inp).postings)
    requests: list[list[dict[str, Any]]] = []
    for p in postings:
        tx = Transaction(p.id, "sale", tuple(Entry(*e) for e in p.entries), {**p.metadata, "kind": p.kind}, START)
        heads = {key: AccountHead(987_654, "f" * 64, 10**9) for key in net_by_account(tx)}
        requests.append(store._actions(tx, tx.body_hash(), heads))
    rules_us = (time.process_time() - cpu) * 1e6 / sample_sites
    kinds = Counter(p.kind for p in postings)
    wru_by_table: Counter[str] = Counter()
    items = heads_total = max_items = 0
    for actions in requests:
        heads_total += sum(1 for a in actions if "Update" in a)
        count = len(actions) + 1  # + the posting-history item, in the same transaction
        items += count
        max_items = max(max_items, count)
        for action in actions:
            table, item = _written_item(action)
            wru_by_table[table] += 2 * math.ceil(item_size(item) / KB)
        history = params.history_item_bytes
        wru_by_table["posting history"] += 2 * math.ceil(history / KB)
    n = len(postings)
    hot = {a: sum(1 for p in postings if any(e[0] == a for e in p.entries)) / sample_sites for a in HOT_ACCOUNTS}
    return Profile(
        sample_sites=sample_sites,
        postings_by_kind={k: kinds[k] / sample_sites for k in KINDS if kinds[k]},
        heads_per_posting=heads_total / n,
        items_per_posting=items / n,
        max_items=max_items,
        wru_per_posting=sum(wru_by_table.values()) / n,
        wru_by_table={t: u / n for t, u in sorted(wru_by_table.items())},
        hot_touches=hot,
        rules_us=rules_us,
    )


def measure_core_us(sites: int = 10_000, intervals: int = 8, passes: int = 3) -> float:
    """CPU µs per meter-interval of the metering core: ``bench/bench_settlement.py``'s work, best pass."""
    from bench_settlement import fleet, run  # bench/ is on sys.path

    table, items, sold = fleet(sites, intervals)
    best = math.inf
    for _ in range(passes):
        cpu = time.process_time()
        run(table, items, sold, intervals)
        best = min(best, time.process_time() - cpu)
    return best * 1e6 / len(items)


# ------------------------------------------------------------------ the model
def shard_reads(p: Params, prof: Profile, shard_sites: float) -> tuple[float, float]:
    """(read requests, RRU) of one SettleShard's inputs other than the meters' rollups: sites (with devices
    and investments), communities, trades (with both orders) and the posting history, per ``p.reads``."""
    k, sites = p.intervals_per_run, p.sites
    site_rru = math.ceil(p.site_item_bytes / (4 * KB))  # consistent reads: 1 RRU per 4 KB
    history_bytes = prof.postings_per_site_interval * p.history_item_bytes
    communities = sites * p.community_share / p.community_size
    if p.reads == "run":
        trades = sites * p.trading_share / 2 * k
        requests = (
            2 * sites  # every site's devices and investments (a Query each); the site scan pages are few
            + communities  # every community's members
            + 2 * trades  # both orders of every trade (a GetItem each)
            + k * math.ceil(sites * history_bytes / (1024 * KB))  # the intervals' whole history, 1 MB pages
        )
        rru = (
            math.ceil(sites * p.site_item_bytes / (4 * KB)) * 0.5  # the scan
            + 2 * sites
            + communities * 1.5
            + trades * (math.ceil(TRADE_ITEM_BYTES / (4 * KB)) * 0.5 + 2)
            + k * math.ceil(sites * history_bytes / (4 * KB))
        )
        return requests, rru
    trades = shard_sites * p.trading_share / 2 * k
    shard_communities = shard_sites * p.community_share / p.community_size
    requests = (
        math.ceil(shard_sites / 100)  # the sites by id (BatchGetItem)
        + 2 * shard_sites  # each site's devices and investments (a Query each)
        + shard_sites  # each host's memberships (communities' by_user index)
        + 2 * shard_communities  # each community and its members
        + 3 * math.ceil(trades / 100)  # the trades and their orders by id (BatchGetItem)
        + shard_sites * k  # the posting history of each host and interval (a Query each)
    )
    rru = (
        shard_sites * (site_rru + 2)
        + shard_sites * 0.5
        + 2 * shard_communities
        + trades * 3
        + shard_sites * k * max(1, math.ceil(history_bytes / (4 * KB)))
    )
    return requests, rru


@dataclass(frozen=True)
class Limit:
    name: str
    needed: float
    ceiling: float
    unit: str
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.needed <= self.ceiling


@dataclass(frozen=True)
class Run:
    """One run's figures (``per_run``) and a day's (``per_day``); the limits it meets."""

    params: Params
    runs_per_day: int
    per_run: dict[str, float]
    per_day: dict[str, float]
    limits: list[Limit] = field(default_factory=list)


def model(params: Params, prof: Profile, core_us: float) -> Run:
    """Figures of one run and of a day of runs (every ``intervals_per_run`` intervals)."""
    p = params
    k = p.intervals_per_run
    sites, meters = p.sites, p.meters
    shards = math.ceil(sites / p.shard_sites)
    site_intervals = sites * k
    postings = site_intervals * prof.postings_per_site_interval
    sweeps = shards * SWEEPS_PER_SHARD if p.accounts == "per_shard" else 0
    in_flight = min(p.concurrency, shards)

    # Lambda: SettleShard = reads + CPU + posts (sequential), Prepare and Finalize
    shard_meters, shard_sites, shard_postings = meters / shards, sites / shards, postings / shards
    shard_requests, shard_rru = shard_reads(p, prof, shard_sites)
    cpu_scale = max(1.0, FULL_VCPU_MB / p.lambda_mb)
    shard_cpu = (shard_meters * k * core_us + shard_sites * k * prof.rules_us) * 1e-6 * cpu_scale
    shard_read_s = (shard_meters + shard_requests) * p.read_ms / 1000 / p.read_parallel
    shard_posts = (shard_postings + sweeps / shards) * p.post_ms / 1000
    shard_s = shard_cpu + shard_read_s + shard_posts
    prepare_s = sites * p.prepare_us_per_site * 1e-6 * cpu_scale
    finalize_s = 1.0 + shards * p.read_ms / 1000 / p.read_parallel
    lambda_s = shards * shard_s + prepare_s + finalize_s
    gb_s = lambda_s * p.lambda_mb / 1024

    # the hottest account head: postings that touch it, one after another
    if p.accounts == "shared":
        hot_account, touches = max(((a, site_intervals * t) for a, t in prof.hot_touches.items()), key=lambda x: x[1])
    else:
        hot_account, touches = "grid:counterparty:KWH (sweeps)", float(shards)  # one sweep per shard
    serial_s = touches * p.post_ms / 1000
    waves = math.ceil(shards / p.concurrency)

    # DynamoDB
    rru_rollups = meters * math.ceil(k * p.bytes_per_meter_interval / (4 * KB)) * 0.5
    rru_inputs = shards * shard_rru  # sites, communities, trades, posting history
    rru_heads = postings * prof.heads_per_posting + sweeps * SWEEP_RRU
    rru_prepare = math.ceil(sites * p.site_item_bytes / (4 * KB)) * 0.5
    rru_finalize = shards * 0.5
    rru = rru_rollups + rru_inputs + rru_heads + rru_prepare + rru_finalize
    wru_ledger = postings * prof.wru_per_posting + sweeps * SWEEP_WRU
    wru = wru_ledger + shards + 1 + k  # + shard completion records, the run item, interval statuses

    # wall time: shards in waves of MaxConcurrency, unless the hot head's chain or the busiest ledger
    # table's on-demand quota (its share of the ledger's units) is slower
    biggest_table = max(prof.wru_by_table.values()) / prof.wru_per_posting
    table_s = wru_ledger * biggest_table / TABLE_WRU_S
    wall_s = prepare_s + max(waves * shard_s, serial_s, table_s) + finalize_s

    # S3 manifest and the Map's items
    shard_trades = round(p.shard_sites * p.trading_share / 2 * k)
    item_bytes = len(
        json.dumps({"shard": shards, "sites": ["0" * 26] * p.shard_sites, "trades": ["0" * 26] * shard_trades})
    )
    manifest_bytes = shards * (item_bytes + 1) + 1

    per_run = {
        "sites": float(sites),
        "SettleShard reads (requests)": shard_requests,
        "meter-intervals": float(meters * k),
        "postings": postings + sweeps,
        "shards = Map child executions": float(shards),
        "state transitions": PARENT_TRANSITIONS + shards * CHILD_TRANSITIONS,
        "Lambda invocations": shards + 2.0,
        "SettleShard duration, s": shard_s,
        "Lambda GB-s": gb_s,
        "DynamoDB WRU": wru,
        "DynamoDB RRU": rru,
        "S3 manifest, MB": manifest_bytes / 1e6,
        "S3 PUT + GET": 2.0,
        "wall time, s": wall_s,
    }
    cost = {
        "$ Step Functions": per_run["state transitions"] * PRICE_TRANSITION,
        "$ Lambda": gb_s * PRICE_GB_S + per_run["Lambda invocations"] * PRICE_LAMBDA_REQUEST,
        "$ DynamoDB": wru * PRICE_WRU + rru * PRICE_RRU,
        "$ S3": PRICE_S3_PUT + PRICE_S3_GET,
    }
    cost["$ total"] = sum(cost.values())
    per_run.update(cost)
    runs_per_day = INTERVALS_PER_DAY // k
    per_day = {name: value * runs_per_day for name, value in per_run.items()}
    for name in ("sites", "SettleShard reads (requests)", "SettleShard duration, s", "S3 manifest, MB", "wall time, s"):
        per_day[name] = math.nan

    hot_wru_s = touches * 2 / p.deadline_s
    peak_wru_s = in_flight * prof.wru_per_posting * 1000 / p.post_ms
    limits = [
        Limit("Distributed Map concurrency", in_flight, MAP_MAX_CONCURRENCY, "child executions"),
        Limit("Map item (a shard) <= 256 KB", item_bytes, PAYLOAD_MAX, "bytes", "a shard's site ids and trade ids"),
        Limit(
            "Lambda concurrency (account default)",
            in_flight,
            LAMBDA_CONCURRENCY,
            "concurrent",
            "shared with every function of the account",
        ),
        Limit("Lambda timeout, one shard", shard_s, LAMBDA_TIMEOUT_S, "s"),
        Limit("run within its deadline", wall_s, p.deadline_s, "s"),
        Limit(
            f"hot head {hot_account}: serial posts",
            touches / p.deadline_s,
            1000 / p.post_ms,
            "posts/s",
            "one chain: each post waits for the previous",
        ),
        Limit(
            f"hot head {hot_account}: partition",
            hot_wru_s,
            PARTITION_WCU,
            "WRU/s",
            "2 WRU per update; its entry chain the same",
        ),
        Limit(
            "busiest ledger table, all shards posting",
            peak_wru_s * biggest_table,
            TABLE_WRU_S,
            "WRU/s",
            "on-demand table quota (default)",
        ),
        Limit("TransactWriteItems items", prof.max_items, TRANSACT_ITEMS, "items", "largest posting in the sample"),
        Limit("execution history (parent)", PARENT_EVENTS, HISTORY_EVENTS, "events", "children have their own"),
    ]
    return Run(p, runs_per_day, per_run, per_day, limits)


# ------------------------------------------------------------------ printing
def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}"


def table(runs: dict[str, Run]) -> str:
    """A markdown table: one row per figure, per run and per day for each cadence."""
    names = list(next(iter(runs.values())).per_run)
    head = "| | " + " | ".join(f"{label}: per run | per day" for label in runs) + " |"
    rule = "|---|" + "---|---|" * len(runs)
    rows = [head, rule]
    for name in names:
        cells = " | ".join(f"{_fmt(r.per_run[name])} | {_fmt(r.per_day[name])}" for r in runs.values())
        rows.append(f"| {name} | {cells} |")
    return "\n".join(rows)


def limits_table(runs: dict[str, Run]) -> str:
    """A markdown table: per limit and cadence, what the run needs against the ceiling."""
    rows = ["| limit | " + " | ".join(runs) + " | unit | |", "|---|" + "---|" * len(runs) + "---|---|"]
    first = next(iter(runs.values()))
    for n, limit in enumerate(first.limits):
        cells = " | ".join(
            f"{_fmt(r.limits[n].needed)} of {_fmt(r.limits[n].ceiling)}{'' if r.limits[n].ok else ' **over**'}"
            for r in runs.values()
        )
        rows.append(f"| {limit.name} | {cells} | {limit.unit} | {limit.note} |")
    return "\n".join(rows)


COMPARED = ("SettleShard reads (requests)", "SettleShard duration, s", "DynamoDB RRU", "wall time, s", "$ total")


def compare_table(before: dict[str, Run], after: dict[str, Run]) -> str:
    """A markdown table: per cadence, the figures and the hot-head limit before and as built."""
    rows = ["| | " + " | ".join(f"{c}: before | as built" for c in after) + " |", "|---|" + "---|---|" * len(after)]
    for name in COMPARED:
        cells = " | ".join(f"{_fmt(before[c].per_run[name])} | {_fmt(after[c].per_run[name])}" for c in after)
        rows.append(f"| {name} (per run) | {cells} |")
    cells = " | ".join(f"{_fmt(before[c].limits[5].needed)} | {_fmt(after[c].limits[5].needed)}" for c in after)
    rows.append(f"| hottest shared head, posts/s (of {_fmt(after['daily'].limits[5].ceiling)} serial) | {cells} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Params()
    for name in (
        "meters",
        "meters_per_site",
        "exporting_share",
        "trading_share",
        "short_share",
        "community_share",
        "community_size",
        "investors_per_site",
        "shard_sites",
        "concurrency",
        "lambda_mb",
        "post_ms",
        "read_ms",
        "read_parallel",
        "bytes_per_meter_interval",
        "prepare_us_per_site",
        "core_us",
        "rules_us",
    ):
        default = getattr(defaults, name)
        kind = float if isinstance(default, float) or default is None else int
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=default)
    parser.add_argument("--accounts", choices=("shared", "per_shard"), default="per_shard")
    parser.add_argument("--reads", choices=("shard", "run"), default="shard")
    parser.add_argument(
        "--before", action="store_true", help="also the design before decision 0028 (shared accounts, run reads)"
    )
    parser.add_argument("--daily-shard-sites", type=int, default=100, help="shard size of the daily run")
    parser.add_argument("--daily-deadline-s", type=float, default=14_400.0, help="the daily run's deadline (4 h)")
    parser.add_argument("--sample-sites", type=int, default=2_000)
    args = parser.parse_args()
    values = {k: v for k, v in vars(args).items() if hasattr(defaults, k)}  # --accounts, --reads included
    params = replace(defaults, **values)

    prof = profile(params, args.sample_sites)
    rules_us = params.rules_us if params.rules_us is not None else prof.rules_us
    prof = replace(prof, rules_us=rules_us)
    core_us = params.core_us if params.core_us is not None else measure_core_us()
    timed = [what for what, given in (("core", params.core_us), ("rules", params.rules_us)) if given is None]

    runs = {
        "every 15 minutes": model(params, prof, core_us),
        "daily": model(
            replace(
                params,
                intervals_per_run=INTERVALS_PER_DAY,
                shard_sites=args.daily_shard_sites,
                deadline_s=args.daily_deadline_s,
            ),
            prof,
            core_us,
        ),
    }
    print(f"{params.meters:,} meters, {params.sites:,} sites; shards of {params.shard_sites} sites every 15 minutes")
    print(f"and of {args.daily_shard_sites} daily; MaxConcurrency {params.concurrency}; Lambda {params.lambda_mb} MB;")
    print(f"grid/platform accounts: {params.accounts}; SettleShard reads: {params.reads}")
    print(
        f"CPU: metering core {core_us:.3f} µs per meter-interval, rules + diff + requests {rules_us:.1f} µs per "
        f"site-interval ({'timed here: ' + ', '.join(timed) if timed else 'given'})"
    )
    kinds = ", ".join(f"{k} {v:.3f}" for k, v in prof.postings_by_kind.items())
    print(
        f"postings per site-interval (rules, {prof.sample_sites:,}-site sample): {prof.postings_per_site_interval:.3f}"
    )
    print(f"  {kinds}")
    tables = ", ".join(f"{t} {u:.1f}" for t, u in prof.wru_by_table.items())
    print(
        f"per posting: {prof.heads_per_posting:.2f} account heads, {prof.items_per_posting:.2f} transaction items "
        f"(largest {prof.max_items}), {prof.wru_per_posting:.1f} WRU ({tables})"
    )
    hot = ", ".join(f"{a} {t:.3f}" for a, t in prof.hot_touches.items())
    print(f"postings per site-interval touching: {hot}")
    print()
    print(table(runs))
    print()
    print(limits_table(runs))
    if args.before:
        before = {
            name: model(replace(r.params, accounts="shared", reads="run"), prof, core_us) for name, r in runs.items()
        }
        print()
        print("before decision 0028 (grid/platform legs on the shared accounts, every shard reading the run's inputs):")
        print()
        print(compare_table(before, runs))


if __name__ == "__main__":
    main()
