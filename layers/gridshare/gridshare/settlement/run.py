"""The four steps of a settlement run (``state_machines/settlement.asl.json``) against the tables.

- **Prepare** (``{runId, from, to}``): the intervals of [from, to) whose delivery has ended; the sites, the
  trades and the communities (the whole registry, once per run); shards = connected components of sites
  linked by trades and communities (:mod:`gridshare.settlement.shards`) packed into
  ``GS_SETTLEMENT_SHARD_SITES``; the manifest (a JSON array of ``{"shard": n, "sites": [...], "trades":
  [...]}``: a shard's sites and the ids of the trades between them) to
  ``s3://GS_SETTLEMENT_BUCKET/runs/<runId>/manifest.json``. Returns ``{runId, manifestKey, shards,
  maxConcurrency}``; the run is ``running``.
- **SettleShard** (``{runId, shard}``): reads only its shard (its sites by id, its trades by id, the
  communities of its sites, their meters' rollups, the posting history of its sites' hosts); per interval
  in order, the rules' postings for the shard's sites, ``diff`` against the interval's history of those
  sites (keys whose ref is one of the shard's sites, trades or site pairs), each change posted through the
  wallets service (idempotent by the posting id), its grid and platform legs on the shard's clearing
  accounts, and then recorded in the history; last, one sweep per clearing account into the shared grid
  and platform accounts, then the shard's completion record (decision 0028). A crash leaves whole ledger
  transactions only (each is one TransactWriteItems); the retry recomputes the same diff from the same
  history and the ledger replays whatever it already holds, so it ends with the same ledger as a clean run.
- **Finalize** (``{runId, shards}``): fails unless every shard of the manifest has its completion record
  (moto's Distributed Map does not fail on a failed child, decision 0022); totals, counts, run
  ``settled``, market intervals ``settled``, ``SettlementCompleted`` published with the parties.
- **MarkFailed** (``{input, error, executionArn}``): the run ``failed`` with the error and cause;
  ``SettlementFailed`` published for admins.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms
from gridshare.kernel.settings import get_settings
from gridshare.ledger import core as L
from gridshare.settlement import postings as P
from gridshare.settlement import rules as R
from gridshare.settlement.events import SettlementEvents, settlement_events
from gridshare.settlement.inputs import INTERVAL_MS, InputReader, RunInputs
from gridshare.settlement.models import SettlementRunModel, SettlementShardModel
from gridshare.settlement.shards import shards as build_shards
from gridshare.settlement.store import SettlementStore, posting_from_item

if TYPE_CHECKING:
    from gridshare.market.service import MarketService

__all__ = ["INTERVAL_MS", "Runs", "due_intervals", "manifest_key"]

logger = logging.getLogger("gridshare.settlement.run")


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def due_intervals(start: int, end: int, now: int) -> list[int]:
    """Interval starts in [start, end) whose delivery has ended by ``now``."""
    first = -(-start // INTERVAL_MS) * INTERVAL_MS
    return [i for i in range(first, end, INTERVAL_MS) if i + INTERVAL_MS <= now]


def _add_totals(totals: dict[str, dict[str, int]], posting: P.Posting) -> None:
    """Per kind and asset, what the posting moved (the sum of its credits)."""
    kind = posting.kind
    for _account, asset, amount in posting.entries:
        if amount > 0:
            slot = totals.setdefault(kind, {})
            slot[asset] = slot.get(asset, 0) + amount


def _merge(into: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    for kind, assets in more.items():
        slot = into.setdefault(kind, {})
        for asset, amount in assets.items():
            slot[asset] = slot.get(asset, 0) + int(amount)


def _shard_refs(inputs: RunInputs, intervals: list[int], sites: set[str]) -> Callable[[str], bool]:
    trades = {t["id"] for i in intervals for t in inputs.trades.get(i, ()) if t["sellerSiteId"] in sites}

    def mine(ref: str) -> bool:
        """A site of the shard (mint, feed-in, burn), a trade of it, or a community pair it provides."""
        return ref in sites or ref in trades or ref.split(".", 1)[0] in sites

    return mine


SALES = ("trade", "community", "feed_in")


def clearing_owner(run_id: str, shard: int) -> str:
    """The owner part of a shard's clearing accounts (decision 0028)."""
    return f"{run_id}.{shard}"


def shard_clearing_accounts(owner: str, currency: str) -> frozenset[str]:
    """The clearing accounts a shard's postings can touch: the grid's KWH and currency, the platform's."""
    return frozenset(
        {
            L.clearing_account(owner, "grid", L.KWH),
            L.clearing_account(owner, "grid", currency),
            L.clearing_account(owner, "platform", currency),
        }
    )


def _sale_of(posting: P.Posting, originals: dict[str, P.Posting], inputs: RunInputs) -> dict[str, str]:
    """``site_id`` and ``host_id`` of the site whose energy a sale (or a sale's reversal) sold: what the
    wallets' investor returns read (the split's investor parts are per site)."""
    original = originals.get(posting.reverses, posting) if posting.reverses else posting
    if original.kind not in SALES:
        return {}
    site = str(original.metadata.get("site", original.ref))  # a feed-in's ref is its site
    view = inputs.sites.get(site)
    return {"site_id": site, "host_id": str(view["ownerId"])} if view is not None else {"site_id": site}


# The ledger, the wallets and the market are imported on first use: SettleShard posts, Finalize marks the
# market's intervals settled, Prepare and MarkFailed need neither, and a task's cold start pays for what it
# imports (decision 0029).
def _ledger() -> Any:
    from gridshare.ledger.store import LedgerStore

    return LedgerStore()


def _market() -> MarketService:
    from gridshare.market.service import market_service

    return market_service()


@dataclass
class Runs:
    store: SettlementStore = field(default_factory=SettlementStore)
    reader: InputReader = field(default_factory=InputReader)
    ledger: Callable[[], Any] = _ledger
    market: Callable[[], MarketService] = _market
    events: Callable[[], SettlementEvents] = settlement_events
    clock: Callable[[], int] = now_ms
    s3: Callable[[], Any] | None = None
    after_posting: Callable[[P.Posting], None] | None = None
    """Called after each posting is in the ledger and the history (tests inject faults here)."""

    def _s3(self) -> Any:
        if self.s3 is not None:
            return self.s3()
        from gridshare.kernel.aws import client

        return client("s3")

    # ------------------------------------------------------------ Prepare
    def prepare(self, event: dict[str, Any]) -> dict[str, Any]:
        settings = get_settings()
        run_id = str(event["runId"])
        now = self.clock()
        run = self.store.find_run(run_id)
        if run is None:  # an execution started without the API (tests, a console): record it now
            run, _ = self.store.create_run(
                SettlementRunModel(
                    id=run_id,
                    status="pending",
                    from_ms=int(event["from"]),
                    to_ms=int(event["to"]),
                    trigger=str(event.get("trigger", "admin")),
                    created_at=now,
                )
            )
        intervals = due_intervals(int(run.from_ms), int(run.to_ms), now)
        inputs = self.reader.read(intervals)
        shard_sites = build_shards(inputs.sites, inputs.links(), inputs.groups(), settings.settlement_shard_sites)
        trade_ids = inputs.trades_by_shard(shard_sites)
        manifest = [{"shard": n, "sites": sites, "trades": trade_ids[n]} for n, sites in enumerate(shard_sites)]
        key = manifest_key(run_id)
        self._s3().put_object(
            Bucket=settings.settlement_bucket,
            Key=key,
            Body=json.dumps(manifest).encode(),
            ContentType="application/json",
        )
        run.status = "running"
        run.intervals = len(intervals)
        run.manifest_key = key
        run.shards = len(manifest)
        run.parties = len(inputs.parties(inputs.sites))
        run.trades = sum(len(ts) for ts in inputs.trades.values())
        run.started_at = run.started_at or now
        run.execution_arn = run.execution_arn or event.get("executionArn")
        self.store.save_run(run)
        concurrency = int(event.get("maxConcurrency") or settings.settlement_max_concurrency)
        return {"runId": run_id, "manifestKey": key, "shards": len(manifest), "maxConcurrency": concurrency}

    # ------------------------------------------------------------ SettleShard
    def settle_shard(self, event: dict[str, Any]) -> dict[str, Any]:
        run_id = str(event["runId"])
        shard = event["shard"]
        number, site_ids = int(shard["shard"]), sorted(shard["sites"])
        run = self.store.run(run_id)
        intervals = due_intervals(int(run.from_ms), int(run.to_ms), int(run.started_at or self.clock()))
        # only this shard's sites, trades (by id, from the manifest) and communities
        inputs = self.reader.read_shard(intervals, site_ids, shard.get("trades"))
        site_ids = [s for s in site_ids if s in inputs.sites]
        sites = set(site_ids)
        mine = _shard_refs(inputs, intervals, sites)
        metered = self.reader.metered(inputs, site_ids, intervals[0], len(intervals)) if intervals else {}
        ledger = self.ledger()
        totals: dict[str, dict[str, int]] = {}
        count = reversals = 0
        parties: set[str] = set()
        clearing = clearing_owner(run_id, number)
        # every posting's party (payer) is the host of one of the shard's sites, real or virtual
        hosts = {str(inputs.sites[s]["ownerId"]) for s in site_ids}
        for interval in intervals:
            settled = R.settle(self.reader.interval_input(inputs, interval, site_ids, metered[interval]))
            history = [posting_from_item(item) for item in self.store.history(interval, hosts)]
            history = [p for p in history if mine(p.ref)]
            originals = {p.id: p for p in history}
            for posting in P.diff(history, settled.postings):
                self._post(posting, ledger, run_id, _sale_of(posting, originals, inputs), clearing)
                _add_totals(totals, posting)
                parties.add(posting.party)
                count += 1
                reversals += posting.kind == "reversal"
        sweeps = self._sweep(shard_clearing_accounts(clearing, inputs.currency), ledger)
        self.store.complete_shard(
            SettlementShardModel(
                run_id=run_id,
                shard=number,
                sites=len(site_ids),
                postings=count,
                reversals=reversals,
                totals={"kinds": totals, "parties": sorted(parties | inputs.parties(site_ids))},
                completed_at=self.clock(),
            )
        )
        return {"runId": run_id, "shard": number, "postings": count, "reversals": reversals, "sweeps": sweeps}

    def _sweep(self, accounts: Iterable[str], ledger: Any) -> int:
        """Each clearing account's balance to its shared account (one posting per account with a balance)."""
        from gridshare.wallets.service import sweep_clearing

        return sum(sweep_clearing(a, ledger=ledger, created_at=self.clock()) is not None for a in sorted(accounts))

    def _post(self, posting: P.Posting, ledger: Any, run_id: str, sale: dict[str, str], clearing: str) -> None:
        from gridshare.wallets.service import post_settlement

        metadata: dict[str, Any] = {
            **posting.metadata,
            "kind": posting.kind,
            "interval": posting.interval,
            "party": posting.party,
            "ref": posting.ref,
            "revision": posting.revision,
            "runId": run_id,
        }
        metadata.update(sale)
        if posting.reverses:
            metadata["reverses"] = posting.reverses
        if posting.first:
            metadata["first"] = posting.first
        metadata.pop("runId")  # the body must not depend on which run posts it: a re-run replays it
        at = self.clock()
        result = post_settlement(
            posting.id,
            posting.entries,
            metadata=metadata,
            created_at=at,
            ledger=ledger,
            reverses=posting.reverses,
            clearing=clearing,
        )
        foreign = {a for a in result.clearing if L.parse_account(a).owner != clearing}
        if foreign:  # replayed from a run that posted it and stopped before recording it: sweep its legs now
            self._sweep(foreign, ledger)
        self.store.record(posting, form=result.form, run_id=run_id, at=at)
        if self.after_posting is not None:
            self.after_posting(posting)

    # ------------------------------------------------------------ Finalize
    def finalize(self, event: dict[str, Any]) -> dict[str, Any]:
        run_id = str(event["runId"])
        expected = int(event["shards"])
        run = self.store.run(run_id)
        done = {int(r.shard): r for r in self.store.completed_shards(run_id)}
        missing = sorted(set(range(expected)) - set(done))
        if missing:
            raise errors.Conflict(f"shards not settled: {missing}")
        totals: dict[str, dict[str, int]] = {}
        parties: set[str] = set()
        for record in done.values():
            _merge(totals, (record.totals or {}).get("kinds", {}))
            parties.update((record.totals or {}).get("parties", []))
        run.postings = sum(int(r.postings) for r in done.values())
        run.reversals = sum(int(r.reversals) for r in done.values())
        run.totals = totals
        run.parties = len(parties)
        run.status = "settled"
        run.finished_at = self.clock()
        run.failure_error = run.failure_cause = None
        self.store.save_run(run)
        intervals = due_intervals(int(run.from_ms), int(run.to_ms), int(run.started_at or run.finished_at))
        self.market().mark_settled(intervals)
        self.events().completed(run_id, intervals, sorted(parties))
        return {"runId": run_id, "status": "settled", "postings": int(run.postings)}

    # ------------------------------------------------------------ MarkFailed
    def mark_failed(self, event: dict[str, Any]) -> dict[str, Any]:
        state = event.get("input") or {}
        run_id = str(state.get("runId") or (state.get("prepared") or {}).get("runId"))
        error = event.get("error") or {}
        run = self.store.run(run_id)
        run.status = "failed"
        run.failure_error = str(error.get("Error", "Unknown"))[:200]
        run.failure_cause = str(error.get("Cause", ""))[:4000]
        run.finished_at = self.clock()
        run.execution_arn = run.execution_arn or event.get("executionArn")
        self.store.save_run(run)
        self.events().failed(run_id, run.failure_error, run.failure_cause)
        return {"runId": run_id, "status": "failed"}
