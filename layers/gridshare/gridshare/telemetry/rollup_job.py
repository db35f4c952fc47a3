"""The rollup job of decision 0016: per device, store the closed hours and days recomputed from raw.

Runs on a schedule (`kernel.resources.SCHEDULES`: rate(1 hour); the local clock fires it on `gridshare
clock advance`), in parallel segments (decision 0024, gridshare.telemetry.segments): each invocation walks
its segment of the device registry (a parallel scan, through the devices service) from where that
segment's previous run stopped (a cursor item per segment), for at most `rollup_devices_per_run` devices
and the invocation's time, visiting several devices at once, and per device:

1. finds the hours that are final (`rollup_items.final_end`) and not stored yet (after its last hour or
   day item), and the hours its late readings changed (dirty markers written by ingest);
2. recomputes them from raw with `reroll.fold` (the hour's readings, the baseline before, the reading
   after) and writes one item per hour (its four 15-minute buckets) and one per day that closed, in
   BatchWriteItem requests (unprocessed items sent again), then deletes the markers it re-rolled.

Every write is an overwrite of a pure function of the raw data: a retried, repeated or concurrent run
writes the same items. A million devices take several runs; until a device's hours are stored, readers
compute them from raw (same numbers, more reads).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.kernel.clock import now_ms
from gridshare.kernel.observability import lambda_request_id, metrics, observed
from gridshare.kernel.settings import get_settings
from gridshare.telemetry.raw_store import LOOKBACK_DAYS, RawStore
from gridshare.telemetry.readings import SPLIT_CAP_MS
from gridshare.telemetry.reroll import BucketTotals
from gridshare.telemetry.rollup_items import (
    DAY_MS,
    HOUR_MS,
    days_closed_by,
    final_end,
    floor_day,
    floor_hour,
    hours_of_span,
    is_empty,
    runs,
    total,
)
from gridshare.telemetry.rollup_store import RollupItemStore
from gridshare.telemetry.segments import DevicePage, Segment, device_page, segment_of, workers

logger = logging.getLogger("gridshare.telemetry.rollup_job")

MAX_HOURS_PER_DEVICE = 7 * 24  # per visit; a device further behind catches up over the next runs
PAGE = 100  # device ids per registry read


@dataclass
class RollOutcome:
    hours: int = 0  # hour items written
    days: int = 0  # day items written
    rerolled: int = 0  # late readings whose span was re-rolled


@dataclass
class RollupJob:
    raw: RawStore
    items: RollupItemStore
    device_page: DevicePage = field(default=device_page)
    max_future_ms: int = field(default_factory=lambda: get_settings().max_future_s * 1000)
    workers: int = 1  # devices rolled at once (each device's items are its own: visits are independent)

    def roll_device(self, device_id: str, now: int) -> RollOutcome:
        """Store the device's final hours not stored yet and re-roll what its late readings changed."""
        outcome = RollOutcome()
        newest = self.raw.newest(device_id, now + DAY_MS, now - LOOKBACK_DAYS * DAY_MS)
        if newest is None:
            return outcome
        end = final_end(int(newest["ts"]["N"]), now, SPLIT_CAP_MS, self.max_future_ms)
        horizon = floor_day(now) - LOOKBACK_DAYS * DAY_MS  # raw readings older than this may be gone
        last_hour, last_day = self.items.last_hour(device_id), self.items.last_day(device_id)
        if last_hour is None and last_day is None:
            oldest = self.raw.oldest(device_id, horizon, end)
            start = floor_hour(int(oldest["ts"]["N"])) if oldest is not None else end
        else:
            resume = [last_hour + HOUR_MS] if last_hour is not None else []
            start = max([*resume, *([last_day + DAY_MS] if last_day is not None else [])])
        start = max(start, horizon)
        # This visit's end: nothing at or after it is written (the next visit starts after the last item).
        reach = max(start, min(end, start + MAX_HOURS_PER_DEVICE * HOUR_MS))
        normal = list(range(start, reach, HOUR_MS))
        dirty_hours: set[int] = set()
        rerolled: list[int] = []
        for ts in self.items.dirty(device_id):
            first, last = self.raw.span_of(device_id, ts)
            if floor_hour(last) >= reach:
                continue  # not final or not reached yet: the marker stays (readers recompute its hours)
            dirty_hours.update(h for h in hours_of_span(first, last) if h >= horizon)
            rerolled.append(ts)
        hours = set(normal) | dirty_hours
        progress = normal[-1] if normal else None
        requests: list[dict[str, Any]] = []
        computed: dict[int, dict[int, BucketTotals]] = {}
        for a, b in runs(hours):
            fine, counts = self.raw.fold_span(device_id, a, b)
            for hour in range(a, b, HOUR_MS):
                buckets = {s: t for s, t in fine.items() if hour <= s < hour + HOUR_MS}
                computed[hour] = buckets
                # Empty hours are not stored, but for the last of this visit (where the next one starts)
                # and re-rolled ones (which may have been stored before).
                if buckets or hour in dirty_hours or hour == progress:
                    requests.append(self.items.hour_put(device_id, hour, buckets, counts.get(hour, 0)))
                    outcome.hours += 1
        self.items.write(requests)
        day_requests = []
        for day in days_closed_by(hours, reach):
            stored = self.items.hours(device_id, day, day + DAY_MS)
            stored.update({h: b for h, b in computed.items() if day <= h < day + DAY_MS})
            totals = total(bucket for fine in stored.values() for bucket in fine.values())
            if not is_empty(totals):
                day_requests.append(self.items.day_put(device_id, day, totals))
                outcome.days += 1
        day_requests.extend(self.items.dirty_delete(device_id, ts) for ts in rerolled)
        self.items.write(day_requests)
        outcome.rerolled = len(rerolled)
        return outcome

    def run(
        self,
        segment: Segment | None = None,
        *,
        max_devices: int,
        time_budget_s: float | None = None,
        now: int | None = None,
    ) -> dict[str, Any]:
        """One invocation of a segment (the whole fleet by default): devices from the segment's saved cursor,
        until its pass ends or a bound is reached."""
        segment = segment or Segment()
        at = now_ms() if now is None else now
        started = time.monotonic()
        after = self.items.cursor(segment.index, segment.total)
        devices = hours = days = rerolled = 0
        complete = False
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            while True:
                ids, after = self.device_page(min(PAGE, max_devices - devices), after, segment)
                for rolled in pool.map(lambda device_id: self.roll_device(device_id, at), ids):
                    hours += rolled.hours
                    days += rolled.days
                    rerolled += rolled.rerolled
                devices += len(ids)
                if after is None:
                    complete = True
                    break
                over_time = time_budget_s is not None and time.monotonic() - started > time_budget_s
                if devices >= max_devices or over_time:
                    break
        self.items.save_cursor(after, at, segment.index, segment.total)
        return {"devices": devices, "hours": hours, "days": days, "rerolled": rerolled, "passComplete": complete}


def rollup_job() -> RollupJob:
    from gridshare.kernel.aws import client
    from gridshare.telemetry.models import RawReadingModel, RollupModel

    ddb = client("dynamodb")
    items = RollupItemStore(ddb, RollupModel.Meta.table_name)
    return RollupJob(raw=RawStore(ddb, RawReadingModel.Meta.table_name, items), items=items, workers=workers())


@observed(correlation_id=lambda_request_id)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduler's input names the segment (`segment`, `totalSegments`; none: the whole fleet); "now" is the
    kernel clock's. Stops with a minute of the invocation left (Lambda's context), or after
    `rollup_devices_per_run` devices; the segment's next run continues."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = max(1.0, remaining() / 1000 - 60) if callable(remaining) else None
    result = rollup_job().run(
        segment_of(event), max_devices=get_settings().rollup_devices_per_run, time_budget_s=budget
    )
    metrics().add_metric(name="RollupHoursWritten", unit=MetricUnit.Count, value=result["hours"])
    metrics().add_metric(name="RollupDevicesVisited", unit=MetricUnit.Count, value=result["devices"])
    logger.info("rollup run", extra=result)
    return result
