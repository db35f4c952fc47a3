"""The settlement context's response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridshare.http.responses import ResponseModel, Timestamp

RunStatus = Literal["pending", "running", "settled", "failed"]


class Failure(ResponseModel):
    error: str | None
    cause: str | None


class Run(ResponseModel):
    id: str
    status: RunStatus
    from_: str = Field(alias="from", description="the first interval's start, ISO 8601 UTC")
    to: str = Field(description="the end of the last interval, ISO 8601 UTC (exclusive)")
    trigger: Literal["schedule", "admin"]
    requested_by: str | None
    execution_arn: str | None = Field(description="the Step Functions execution (its name is the run id)")
    intervals: int = Field(ge=0, description="intervals whose delivery had ended when the run prepared")
    shards: int = Field(ge=0)
    parties: int = Field(ge=0)
    trades: int = Field(ge=0)
    postings: int = Field(ge=0, description="ledger transactions this run posted, reversals and reposts included")
    reversals: int = Field(ge=0)
    totals: dict[str, dict[str, int]] = Field(description="posting kind -> asset -> amount moved (minor units, Wh)")
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    failure: Failure | None


class Entry(ResponseModel):
    account: str
    asset: str
    amount: int


class Posting(ResponseModel):
    id: str
    interval: str
    party: str
    kind: str
    ref: str
    revision: int = Field(ge=1)
    reverses: str | None = Field(description="a reversal: the posting it undoes")
    first: str | None = Field(description="a repost: the id of the key's first posting (the first run)")
    form: Literal["wallet", "receivable"]
    entries: list[Entry]
    metadata: dict[str, str | int | bool | None]


class RunDetail(Run):
    posting_list: list[Posting] = Field(description="what this run posted, interval by interval")
