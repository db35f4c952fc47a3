"""Settlement: runs on Step Functions over delivered intervals (docs/settlement.md, decisions 0022 and 0023).

- :meth:`SettlementService.start` (``POST /v1/settlements``, admins; and the schedule): records a run
  ``pending`` and starts the state machine (``GS_SETTLEMENT_STATE_MACHINE_ARN``) with the run id as the
  execution name, so a repeated start of the same run starts nothing twice (Standard executions are
  idempotent by name).
- :meth:`SettlementService.tick` (the ``settlement-runs`` schedule, every 15 minutes): a run for the
  intervals whose delivery ended more than ``GS_SETTLEMENT_LAG_S`` ago and that no scheduled run has
  covered yet, from where the last scheduled run stopped (at most a day per run); its id is derived from
  its window (``stl-<from>-<to>``), so a repeated tick starts nothing new.
- :attr:`SettlementService.runs`: the four steps of the state machine (:mod:`gridshare.settlement.run`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.kernel.settings import get_settings
from gridshare.settlement.models import SettlementRunModel
from gridshare.settlement.run import INTERVAL_MS, Runs
from gridshare.settlement.store import SettlementStore

__all__ = ["MAX_SPAN_MS", "SettlementService", "run_view", "settlement_service"]

MAX_SPAN_MS = 7 * 86_400_000
"""The longest window one run settles (672 intervals): bounds a run's input reads and its manifest."""
SCHEDULE_SPAN_MS = 86_400_000
"""A scheduled run catches up at most a day at a time (a longer backlog: the next ticks)."""


def run_view(run: SettlementRunModel, postings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": run.id,
        "status": run.status,
        "from": to_iso(int(run.from_ms)),
        "to": to_iso(int(run.to_ms)),
        "trigger": run.trigger,
        "requestedBy": run.requested_by,
        "executionArn": run.execution_arn,
        "intervals": int(run.intervals),
        "shards": int(run.shards),
        "parties": int(run.parties),
        "trades": int(run.trades),
        "postings": int(run.postings),
        "reversals": int(run.reversals),
        "totals": run.totals or {},
        "createdAt": to_iso(int(run.created_at)),
        "startedAt": to_iso(int(run.started_at)) if run.started_at is not None else None,
        "finishedAt": to_iso(int(run.finished_at)) if run.finished_at is not None else None,
        "failure": {"error": run.failure_error, "cause": run.failure_cause} if run.failure_error else None,
    }
    if postings is not None:
        view["postingList"] = postings
    return view


def _posting_view(item: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "interval": to_iso(int(item.interval_start)),
        "party": item.party,
        "kind": item.kind,
        "ref": item.ref,
        "revision": int(item.revision),
        "reverses": item.reverses,
        "first": item.first,
        "form": item.form,
        "entries": [{"account": a, "asset": s, "amount": int(n)} for a, s, n in item.entries],
        "metadata": dict(item.metadata or {}),
    }


def _sfn() -> Any:
    from gridshare.kernel.aws import client

    return client("stepfunctions")


@dataclass
class SettlementService:
    store: SettlementStore = field(default_factory=SettlementStore)
    clock: Callable[[], int] = now_ms
    stepfunctions: Callable[[], Any] = _sfn
    runs: Runs = field(init=False)

    def __post_init__(self) -> None:
        self.runs = Runs(store=self.store, clock=self.clock)

    # ------------------------------------------------------------ starting runs
    def start(
        self, start: int, end: int, *, trigger: str, requested_by: str | None, run_id: str | None = None
    ) -> dict[str, Any]:
        """Record the run and start its execution; an existing run with this id is answered as it stands
        (its execution is started again only if it never got one)."""
        state_machine = get_settings().settlement_state_machine_arn
        if not state_machine:
            raise errors.Unavailable("Settlement runs are not configured here (no state machine).")
        now = self.clock()
        run, created = self.store.create_run(
            SettlementRunModel(
                id=run_id or new_id(),
                status="pending",
                from_ms=start,
                to_ms=end,
                trigger=trigger,
                requested_by=requested_by,
                created_at=now,
            )
        )
        if created or run.execution_arn is None:
            run.execution_arn = self._execute(run, state_machine)
            self.store.save_run(run)
        return run_view(run)

    def _execute(self, run: SettlementRunModel, arn: str) -> str:
        payload = {"runId": run.id, "from": int(run.from_ms), "to": int(run.to_ms), "trigger": run.trigger}
        sfn = self.stepfunctions()
        try:
            started = sfn.start_execution(stateMachineArn=arn, name=run.id, input=json.dumps(payload))
        except sfn.exceptions.ExecutionAlreadyExists:
            return f"{arn.replace(':stateMachine:', ':execution:')}:{run.id}"
        return str(started["executionArn"])

    def tick(self) -> dict[str, Any] | None:
        """The schedule: a run for the due intervals no scheduled run has covered yet (or None)."""
        settings = get_settings()
        now = self.clock()
        end = (now - settings.settlement_lag_s * 1000) // INTERVAL_MS * INTERVAL_MS
        last = next((r for r in self.store.latest_runs(50) if r.trigger == "schedule"), None)
        start = int(last.to_ms) if last is not None else end - INTERVAL_MS
        end = min(end, start + SCHEDULE_SPAN_MS)
        if end <= start:
            return None
        return self.start(start, end, trigger="schedule", requested_by=None, run_id=f"stl-{start}-{end}")

    # ------------------------------------------------------------ reading runs
    def list(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        from gridshare.http.pagination import decode_cursor, encode_cursor  # the API's reads only

        items, last = self.store.runs_page(limit, decode_cursor(cursor))
        return [run_view(r) for r in items], encode_cursor(last) if last else None

    def get(self, run_id: str) -> dict[str, Any]:
        run = self.store.run(run_id)
        starts = range(int(run.from_ms), int(run.to_ms), INTERVAL_MS)
        items = self.store.postings_of_run(run.id, starts) if run.status in ("running", "settled", "failed") else []
        return run_view(
            run, [_posting_view(i) for i in sorted(items, key=lambda i: (int(i.interval_start), i.posted_at, i.id))]
        )


settlement_service = ServiceFactory(SettlementService)
