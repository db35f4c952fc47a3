"""DynamoDB storage of settlement runs, shard completion records and the posting history.

Every write can be repeated: a run is created once (conditional put; a second request for the same id
gets the stored run), its status only moves pending -> running -> settled | failed (a run marked failed
may be re-run to settled by a retried execution); a history item is put under the posting's id (the same
content on a retry); a shard's completion record is put after its postings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from gridshare.kernel import errors
from gridshare.kernel.tables import failed_condition
from gridshare.settlement.models import RUN_KIND, SettlementPostingModel, SettlementRunModel, SettlementShardModel
from gridshare.settlement.postings import Posting, party_prefix

__all__ = ["SettlementStore", "posting_from_item"]


def posting_from_item(item: SettlementPostingModel) -> Posting:
    return Posting(
        int(item.interval_start),
        item.party,
        item.kind,
        item.ref,
        int(item.revision),
        tuple((str(a), str(s), int(n)) for a, s, n in item.entries),
        dict(item.metadata or {}),
        reverses=item.reverses,
        first=item.first,
    )


@dataclass
class SettlementStore:
    # ------------------------------------------------------------ runs
    def create_run(self, run: SettlementRunModel) -> tuple[SettlementRunModel, bool]:
        """Put a new run; when its id exists, the stored run (and False)."""
        try:
            run.save(condition=SettlementRunModel.id.does_not_exist())
        except PutError as exc:
            if not failed_condition(exc):
                raise errors.Unavailable("The settlement run could not be recorded; retry.") from exc
            return self.run(run.id), False
        return run, True

    def run(self, run_id: str) -> SettlementRunModel:
        try:
            return SettlementRunModel.get(run_id, consistent_read=True)
        except DoesNotExist:
            raise errors.NotFound("No such settlement run.") from None

    def find_run(self, run_id: str) -> SettlementRunModel | None:
        try:
            return SettlementRunModel.get(run_id, consistent_read=True)
        except DoesNotExist:
            return None

    def save_run(self, run: SettlementRunModel) -> None:
        run.save()

    def runs_page(
        self, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[SettlementRunModel], dict[str, Any] | None]:
        result = SettlementRunModel.by_created.query(
            RUN_KIND, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
        return list(result), result.last_evaluated_key

    def latest_runs(self, limit: int) -> list[SettlementRunModel]:
        return list(SettlementRunModel.by_created.query(RUN_KIND, scan_index_forward=False, limit=limit))

    # ------------------------------------------------------------ shards
    def complete_shard(self, record: SettlementShardModel) -> None:
        record.save()

    def completed_shards(self, run_id: str) -> list[SettlementShardModel]:
        return list(SettlementShardModel.query(run_id, consistent_read=True))

    # ------------------------------------------------------------ history
    def history(self, interval: int, parties: Iterable[str] | None = None) -> list[SettlementPostingModel]:
        """The interval's posting history (consistent reads): all of it, or only the postings of
        ``parties``: a posting's id starts ``stl:<interval>:<party>:`` (a reversal's too), so one Query per
        party with ``begins_with`` on the range key reads a shard's parties' postings and nothing else."""
        if parties is None:
            return list(SettlementPostingModel.query(interval, consistent_read=True))
        out: list[SettlementPostingModel] = []
        for party in sorted(set(parties)):
            prefix = party_prefix(interval, party)
            query = SettlementPostingModel.query(
                interval, SettlementPostingModel.id.startswith(prefix), consistent_read=True
            )
            out.extend(query)
        return out

    def record(self, posting: Posting, *, form: str, run_id: str, at: int) -> None:
        SettlementPostingModel(
            interval_start=posting.interval,
            id=posting.id,
            party=posting.party,
            kind=posting.kind,
            ref=posting.ref,
            revision=posting.revision,
            entries=[list(e) for e in posting.entries],
            metadata=dict(posting.metadata),
            reverses=posting.reverses,
            first=posting.first,
            form=form,
            run_id=run_id,
            posted_at=at,
        ).save()

    def postings_of_run(self, run_id: str, intervals: Iterable[int]) -> list[SettlementPostingModel]:
        """The postings a run made (for ``GET /v1/settlements/{id}``), interval by interval."""
        out: list[SettlementPostingModel] = []
        for interval in intervals:
            out.extend(
                SettlementPostingModel.query(
                    interval, filter_condition=SettlementPostingModel.run_id == run_id, consistent_read=True
                )
            )
        return out
