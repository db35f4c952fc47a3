"""Telemetry's response bodies (gridshare.http.responses): readings and dead letters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridshare.http.responses import Absent, Page, ResponseModel, Timestamp, absent

MetricValue = float | bool  # a number, or a flag (e.g. `leak`)


class LatestReading(ResponseModel):
    device_id: str
    ts: Timestamp = Field(description="the device's timestamp")
    seq: int
    received_at: Timestamp
    metrics: dict[str, MetricValue]
    units: dict[str, str] = Field(description="the unit of each known metric")


class ReadingPoint(ResponseModel):
    """One point of a history: a raw reading (`seq`, `value`), or a bucket of a rollup: `count` and `avg`
    (gauges and flags) or `energyWh` (counters: the energy of the interval)."""

    ts: Timestamp = Field(description="the reading's time, or the bucket's start")
    seq: Absent[int] = absent("raw: the reading's sequence number")
    value: Absent[MetricValue] = absent("raw: the metric's value")
    uncalibrated: Absent[MetricValue] = absent("raw, calibrated metrics only: the value the device sent")
    count: Absent[int] = absent("rollups: readings in the bucket")
    avg: Absent[float] = absent("rollups of gauges and flags: the mean")
    energy_wh: Absent[int] = absent("rollups of counters: energy in the bucket, Wh")


class ReadingsMeta(ResponseModel):
    metric: str
    resolution: Literal["raw", "15m", "1h", "1d"]


class ReadingsPage(Page[ReadingPoint]):
    """A page of one metric's history."""

    meta: ReadingsMeta


class Reason(ResponseModel):
    field: str
    message: str


class DeadLetter(ResponseModel):
    """A device message that could not be stored, with every reason (telemetry.dead_letters.dead_letter_view)."""

    id: str
    status: Literal["open", "replayed"]
    thing_name: str | None
    device_id: str | None
    topic: str | None
    payload: str | None = Field(description="the message as text; null when it is not UTF-8")
    payload_base64: str
    reasons: list[Reason]
    received_at: Timestamp
    replayed_at: Timestamp | None
    replay_attempts: int


class ReplayedDeadLetter(DeadLetter):
    outcome: Literal["stored", "duplicate"] = Field(description="what ingest did with the message")
