"""The local clock: fires EventBridge Scheduler schedules, which moto stores but never fires.

Every tick it lists the schedules in moto, works out which are due (`rate(...)`, `at(...)` and
`cron(...)` expressions, UTC), and delivers each due schedule's target input the way Scheduler would:
to an SQS queue, a Step Functions state machine (StartExecution), or a Lambda function (our handler, via
the in-process dispatcher).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("gridshare.local.clock")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def _cron_field_matches(spec: str, value: int) -> bool:
    if spec in ("*", "?"):
        return True
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            low, high = 0, 10_000
        elif "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
        else:
            low = high = int(part)
        if low <= value <= high and (value - low) % step == 0:
            return True
    return False


def is_due(expression: str, now: datetime, last_fired: datetime | None, created: datetime) -> bool:
    """Whether a schedule should fire at minute-resolution time `now` (UTC)."""
    if match := _RATE.match(expression):
        period = int(match.group(1)) * _UNITS[match.group(2).rstrip("s")]
        reference = last_fired or created
        return (now - reference).total_seconds() >= period
    if match := _AT.match(expression):
        at = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
        return last_fired is None and now >= at
    if match := _CRON.match(expression):
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields: {expression}")
        minute, hour, day, month, weekday, year = fields
        minute_start = now.replace(second=0, microsecond=0)
        if last_fired is not None and last_fired >= minute_start:
            return False
        aws_weekday = (now.isoweekday() % 7) + 1  # AWS cron: 1 = Sunday
        return (
            _cron_field_matches(minute, now.minute)
            and _cron_field_matches(hour, now.hour)
            and _cron_field_matches(day, now.day)
            and _cron_field_matches(month, now.month)
            and _cron_field_matches(weekday, aws_weekday)
            and _cron_field_matches(year, now.year)
        )
    raise ValueError(f"unsupported schedule expression: {expression}")


class LocalClock(threading.Thread):
    def __init__(
        self,
        region: str,
        invoke_lambda: Callable[[str, dict[str, Any]], Any],
        tick_s: float = 1.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(name="clock", daemon=True)
        self.region, self.invoke_lambda, self.tick_s, self.now = region, invoke_lambda, tick_s, now
        self._stop = threading.Event()
        self._last: dict[str, datetime] = {}
        self._seen: dict[str, datetime] = {}
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
        import boto3

        scheduler = boto3.client("scheduler", region_name=self.region)
        now = self.now()
        fired = []
        for summary in scheduler.list_schedules(State="ENABLED").get("Schedules", []):
            key = f"{summary.get('GroupName', 'default')}/{summary['Name']}"
            self._seen.setdefault(key, now)
            schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=summary.get("GroupName", "default"))
            try:
                due = is_due(schedule["ScheduleExpression"], now, self._last.get(key), self._seen[key])
            except ValueError:
                logger.warning("schedule %s has an expression the local clock cannot fire", key)
                continue
            if due:
                self._last[key] = now
                self._fire(schedule["Target"])
                fired.append(key)
        self.fired += fired
        return fired

    def _fire(self, target: dict[str, Any]) -> None:
        import boto3

        arn, payload = target["Arn"], target.get("Input") or "{}"
        service = arn.split(":")[2]
        if service == "sqs":
            name, account = arn.split(":")[5], arn.split(":")[4]
            sqs = boto3.client("sqs", region_name=self.region)
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=payload)
        elif service == "states":
            boto3.client("stepfunctions", region_name=self.region).start_execution(stateMachineArn=arn, input=payload)
        elif service == "lambda":
            self.invoke_lambda(arn, json.loads(payload))
        else:
            raise ValueError(f"schedule target not supported locally: {arn}")
