"""The settlement context's tables: runs, each run's shard completion records, and the posting history.

- ``settlement_runs``: one item per run (its window, status, counts, totals per kind, failure); the sparse
  GSI ``by_created`` (a constant partition ``kind = "run"``, range ``created_at``) lists runs newest first.
- ``settlement_shards``: ``run_id`` + ``shard``: written by SettleShard only after every posting of the shard
  is in the ledger and in the history; Finalize requires one per shard of the manifest.
- ``settlement_postings``: every posting ever made, per interval (hash ``interval_start``, range the posting
  id): the history :func:`gridshare.settlement.postings.diff` compares a new run with. ``entries`` are the
  posting's canonical (wallet) entries; ``form`` says how the ledger holds it (``wallet`` or ``receivable``,
  decision 0023).
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta

RUN_KIND = "run"


class RunsByCreated(GlobalSecondaryIndex["SettlementRunModel"]):
    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class SettlementRunModel(Model):
    """A settlement run over the delivery intervals in [from_ms, to_ms)."""

    class Meta(TableMeta):
        logical_name = "settlement_runs"

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=RUN_KIND)
    status = UnicodeAttribute()  # pending | running | settled | failed
    from_ms = NumberAttribute()
    to_ms = NumberAttribute()
    intervals = NumberAttribute(default=0)
    trigger = UnicodeAttribute()  # schedule | admin
    requested_by = UnicodeAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    manifest_key = UnicodeAttribute(null=True)
    shards = NumberAttribute(default=0)
    parties = NumberAttribute(default=0)
    trades = NumberAttribute(default=0)
    postings = NumberAttribute(default=0)
    reversals = NumberAttribute(default=0)
    totals = JSONAttribute(null=True)  # kind -> {asset -> minor units or Wh moved}
    created_at = NumberAttribute()
    started_at = NumberAttribute(null=True)
    finished_at = NumberAttribute(null=True)
    failure_error = UnicodeAttribute(null=True)
    failure_cause = UnicodeAttribute(null=True)
    by_created = RunsByCreated()


class SettlementShardModel(Model):
    """A shard of a run that completed: every posting of it is in the ledger and in the history."""

    class Meta(TableMeta):
        logical_name = "settlement_shards"

    run_id = UnicodeAttribute(hash_key=True)
    shard = NumberAttribute(range_key=True)
    sites = NumberAttribute(default=0)
    postings = NumberAttribute(default=0)
    reversals = NumberAttribute(default=0)
    totals = JSONAttribute(null=True)
    completed_at = NumberAttribute()


class SettlementPostingModel(Model):
    """One posting of an interval's history (a rule's posting, a reversal, or a repost)."""

    class Meta(TableMeta):
        logical_name = "settlement_postings"

    interval_start = NumberAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    party = UnicodeAttribute()
    kind = UnicodeAttribute()
    ref = UnicodeAttribute()
    revision = NumberAttribute()
    entries = JSONAttribute()  # [[account, asset, amount], ...]
    metadata = JSONAttribute()
    reverses = UnicodeAttribute(null=True)
    first = UnicodeAttribute(null=True)
    form = UnicodeAttribute(default="wallet")  # wallet | receivable
    run_id = UnicodeAttribute()
    posted_at = NumberAttribute()


TABLES: tuple[type[Model], ...] = (SettlementRunModel, SettlementShardModel, SettlementPostingModel)
