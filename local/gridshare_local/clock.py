"""The local clock: fires EventBridge Scheduler schedules (moto stores them but never fires them), and
moves the local stack's time forward.

Time is the kernel clock's (gridshare.kernel.clock), so it includes the stack's offset. Every tick (1 s) the
clock lists the enabled schedules in moto and fires the ones that are due, in order of due time, each
once, delivering the target's input the way Scheduler would: to an SQS queue, a Step Functions state
machine (StartExecution) or a Lambda function (our handler, through the in-process dispatcher).

`advance(seconds)` moves the offset in the stack's clock file (GS_CLOCK_FILE, read by every process of
the stack) and evaluates at once, so whatever fell due in the skipped span has fired when it returns:
nobody waits for a tick, and nothing sleeps for time to pass. A schedule that fell due several times in
the span (`rate(5 minutes)` over 20 minutes) fires once, at its earliest due time in the order, and
keeps its phase (the next one is the next multiple of the rate after the new now), as Scheduler does
when it catches up with a flexible window rather than replaying every missed run.

Expressions: `rate(n minute|minutes|hour|hours|day|days)`, anchored when the clock first sees the
schedule (within a tick of its creation), and `at(yyyy-mm-ddThh:mm:ss)` in the schedule's
ScheduleExpressionTimezone (UTC by default); an `at` schedule with ActionAfterCompletion DELETE is deleted
after it fired. A target that cannot be reached is logged and not retried (Scheduler would retry, then
use the target's dead-letter queue). Nothing in the code base schedules with `cron(...)`, so the local
clock does not parse it: such a schedule is reported once and never fired.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gridshare.kernel import clock as kernel_clock
from gridshare.kernel.aws import new_client

logger = logging.getLogger("gridshare.local.clock")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_ADVANCE_S = 10 * 366 * 86_400  # ten years: beyond that a typo, not a test


# ------------------------------------------------------------------------------------------ the offset
def read_offset(path: Path) -> int:
    """The offset (ms) stored in a clock file; 0 when there is none yet."""
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))[kernel_clock.OFFSET_KEY])
    except FileNotFoundError:
        return 0


def write_offset(path: Path, offset_ms: int) -> None:
    """Store the offset atomically (a rename: a reader never sees half a file), with an mtime strictly
    later than the previous file's, so every reader's cached stat signature changes even when two writes
    fall in the same tick of the file system's timestamp clock."""
    try:
        previous = path.stat().st_mtime_ns
    except FileNotFoundError:
        previous = 0
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps({kernel_clock.OFFSET_KEY: int(offset_ms)}), encoding="utf-8")
    stamp = max(time.time_ns(), previous + 1)  # a file timestamp, not the stack's now
    os.utime(temporary, ns=(stamp, stamp))
    os.replace(temporary, path)


# ------------------------------------------------------------------------------------- due schedules
@dataclass(frozen=True)
class Expression:
    """A parsed schedule expression: a rate (a period) or a one-time `at`."""

    period: timedelta | None = None
    at: datetime | None = None


def parse_expression(expression: str, timezone: str = "UTC") -> Expression:
    """`rate(...)` or `at(...)` (in `timezone`); ValueError for anything else, `cron(...)` included."""
    if match := _RATE.match(expression.strip()):
        seconds = int(match.group(1)) * _UNITS[match.group(2).rstrip("s")]
        if seconds <= 0:
            raise ValueError(f"a rate must be positive: {expression}")
        return Expression(period=timedelta(seconds=seconds))
    if match := _AT.match(expression.strip()):
        return Expression(at=datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC")))
    raise ValueError(f"the local clock fires rate(...) and at(...) schedules only: {expression}")


@dataclass
class Tracked:
    """What the clock remembers of one schedule: rate occurrences are `anchor + k * period` (k >= 1);
    `last_due` is the latest occurrence already fired (for `at`: its time, once fired)."""

    key: str
    expression: Expression
    anchor: datetime
    signature: tuple[Any, ...] = ()
    last_due: datetime | None = None

    def next_due(self) -> datetime | None:
        """The first occurrence not fired yet; None when there is none (an `at` that fired)."""
        if self.expression.at is not None:
            return self.expression.at if self.last_due is None else None
        assert self.expression.period is not None
        return (self.last_due or self.anchor) + self.expression.period

    def latest_due(self, now: datetime) -> datetime:
        """The latest occurrence at or before `now` (call only when `next_due() <= now`)."""
        if self.expression.at is not None:
            return self.expression.at
        assert self.expression.period is not None
        return self.anchor + ((now - self.anchor) // self.expression.period) * self.expression.period


def due(schedules: Iterable[Tracked], now: datetime) -> list[Tracked]:
    """The schedules due at `now`, each once, in order of (earliest) due time, then key."""
    found = []
    for tracked in schedules:
        when = tracked.next_due()
        if when is not None and when <= now:
            found.append((when, tracked.key, tracked))
    found.sort(key=lambda item: (item[0], item[1]))
    return [tracked for _, _, tracked in found]


# ------------------------------------------------------------------------------------------ the clock
@dataclass(frozen=True)
class Advanced:
    now_ms: int
    offset_ms: int
    fired: list[str]


class LocalClock(threading.Thread):
    def __init__(
        self,
        region: str,
        invoke_lambda: Callable[[str, dict[str, Any]], Any],
        clock_file: Path | None = None,
        tick_s: float = 1.0,
    ) -> None:
        """`clock_file`: the stack's GS_CLOCK_FILE, which `advance` moves (None: this clock cannot be moved)."""
        super().__init__(name="clock", daemon=True)
        self.region, self.invoke_lambda, self.clock_file, self.tick_s = region, invoke_lambda, clock_file, tick_s
        self._stop = threading.Event()
        self._lock = threading.RLock()  # one evaluation at a time: the tick thread and advance (an API thread)
        self._tracked: dict[str, Tracked] = {}
        self._unsupported: set[tuple[str, tuple[Any, ...]]] = set()
        self._scheduler: Any = None
        self.fired: list[str] = []

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:
                logger.exception("clock tick failed")

    def tick(self) -> list[str]:
        """Fire what is due now; returns the schedules fired (group/name), in order."""
        with self._lock:
            return self._evaluate(kernel_clock.now())

    def advance(self, seconds: int) -> Advanced:
        """Move the stack's now forward by `seconds` and fire what fell due in the skipped span, in order."""
        if self.clock_file is None:
            raise RuntimeError("this clock has no clock file: it cannot be moved")
        if not 0 < seconds <= MAX_ADVANCE_S:
            raise ValueError(f"seconds must be between 1 and {MAX_ADVANCE_S}")
        with self._lock:
            # Schedules created since the last tick are anchored at the old now, before the jump.
            fired = self._evaluate(kernel_clock.now())
            offset = read_offset(self.clock_file) + seconds * 1000
            write_offset(self.clock_file, offset)
            now_ms = kernel_clock.now_ms()
            fired += self._evaluate(datetime.fromtimestamp(now_ms / 1000, tz=UTC))
        logger.info("clock advanced %ss to %s; fired %s", seconds, kernel_clock.to_iso(now_ms), fired or "nothing")
        return Advanced(now_ms=now_ms, offset_ms=offset, fired=fired)

    # ------------------------------------------------------------ evaluation
    def _client(self) -> Any:
        if self._scheduler is None:
            self._scheduler = new_client("scheduler", region_name=self.region)
        return self._scheduler

    def _schedules(self) -> list[dict[str, Any]]:
        scheduler = self._client()
        found, kwargs = [], {"State": "ENABLED"}
        while True:
            page = scheduler.list_schedules(**kwargs)
            for summary in page.get("Schedules", []):
                group = summary.get("GroupName") or "default"
                found.append(scheduler.get_schedule(Name=summary["Name"], GroupName=group))
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]

    def _track(self, schedules: list[dict[str, Any]], now: datetime) -> None:
        """Start tracking new (or re-created, or changed) schedules at `now`; forget deleted ones."""
        keys = set()
        for schedule in schedules:
            key = f"{schedule.get('GroupName') or 'default'}/{schedule['Name']}"
            keys.add(key)
            expression = schedule["ScheduleExpression"]
            timezone = schedule.get("ScheduleExpressionTimezone") or "UTC"
            signature = (expression, timezone, str(schedule.get("CreationDate")))
            known = self._tracked.get(key)
            if known is not None and known.signature == signature:
                continue
            try:
                parsed = parse_expression(expression, timezone)
            except ValueError:
                if (key, signature) not in self._unsupported:
                    self._unsupported.add((key, signature))
                    logger.warning("schedule %s: the local clock cannot fire %r", key, expression)
                self._tracked.pop(key, None)
                continue
            self._tracked[key] = Tracked(key, parsed, anchor=now, signature=signature)
        for gone in set(self._tracked) - keys:
            del self._tracked[gone]

    def _evaluate(self, now: datetime) -> list[str]:
        schedules = self._schedules()
        self._track(schedules, now)
        by_key = {f"{s.get('GroupName') or 'default'}/{s['Name']}": s for s in schedules}
        fired = []
        for tracked in due(self._tracked.values(), now):
            schedule = by_key[tracked.key]
            tracked.last_due = tracked.latest_due(now)
            try:
                self._fire(schedule["Target"])
            except Exception:
                logger.exception("schedule %s: delivering its target failed", tracked.key)
                continue
            fired.append(tracked.key)
            if tracked.expression.at is not None and schedule.get("ActionAfterCompletion") == "DELETE":
                self._client().delete_schedule(Name=schedule["Name"], GroupName=schedule.get("GroupName") or "default")
        self.fired += fired
        return fired

    def _fire(self, target: dict[str, Any]) -> None:

        arn, payload = target["Arn"], target.get("Input") or "{}"
        service = arn.split(":")[2]
        if service == "sqs":
            name, account = arn.split(":")[5], arn.split(":")[4]
            sqs = new_client("sqs", region_name=self.region)
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=payload)
        elif service == "states":
            new_client("stepfunctions", region_name=self.region).start_execution(stateMachineArn=arn, input=payload)
        elif service == "lambda":
            self.invoke_lambda(arn, json.loads(payload))
        else:
            raise ValueError(f"schedule target not supported locally: {arn}")


# The stack's running clock, for the local-only routes (gridshare_local.clock_api).
_current: LocalClock | None = None


def install(clock: LocalClock | None) -> None:
    global _current
    _current = clock


def current() -> LocalClock | None:
    return _current
