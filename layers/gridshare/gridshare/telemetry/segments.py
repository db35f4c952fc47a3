"""Fleet-wide telemetry jobs in parallel segments (decision 0024): the rollup and archive jobs.

A schedule with `segments` > 1 (kernel.resources.ScheduleSpec) invokes its function once per segment, with
`{"segment": i, "totalSegments": n}` as input; the function walks only that segment of the device registry
(a DynamoDB parallel scan, through the devices service) from its own cursor, and visits `workers()` devices
at once (the work is I/O: DynamoDB and S3 requests). Without a segment in the input, one segment covers the
whole fleet (`Segment()`), as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

WORKERS_ENV = "GS_TELEMETRY_JOB_WORKERS"
DEFAULT_WORKERS = 8
MAX_WORKERS = 10  # botocore's connection pool per client (max_pool_connections): more threads would wait


@dataclass(frozen=True)
class Segment:
    index: int = 0
    total: int = 1

    def __post_init__(self) -> None:
        if self.total < 1 or not 0 <= self.index < self.total:
            raise ValueError(f"segment {self.index} of {self.total} does not exist")


def segment_of(event: Mapping[str, Any] | None) -> Segment:
    """The segment a schedule's input names (`segment`, `totalSegments`); the whole fleet when it names none."""
    if not event or "totalSegments" not in event:
        return Segment()
    return Segment(int(event.get("segment", 0)), int(event["totalSegments"]))


def workers(env: Mapping[str, str] | None = None) -> int:
    """Devices a job invocation visits at once: GS_TELEMETRY_JOB_WORKERS (default 8, at most 10)."""
    text = (os.environ if env is None else env).get(WORKERS_ENV, "").strip()
    value = int(text) if text else DEFAULT_WORKERS
    return max(1, min(MAX_WORKERS, value))


DevicePage = Callable[[int, dict[str, Any] | None, Segment], tuple[list[str], dict[str, Any] | None]]


def device_page(limit: int, after: dict[str, Any] | None, segment: Segment) -> tuple[list[str], dict[str, Any] | None]:
    """A page of the segment's device ids, read through the devices service."""
    from gridshare.devices.service import DeviceService

    return DeviceService.id_page(limit, after, segment.index, segment.total)
