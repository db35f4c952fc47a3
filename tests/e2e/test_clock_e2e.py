"""The controllable clock, as an operator uses it: `gridshare clock advance 20m` moves the running stack's
now for every process and fires the Scheduler schedules that fell due in the skipped span.

Runs on a stack of its own (`private_stack`): moving time would otherwise move it under every later test.
Nothing here sleeps for time to pass; waits are bounded polls on a condition.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from gridshare.kernel import resources
from gridshare.kernel.clock import parse_time
from gridshare_local.device_client import DeviceConnection, StackClock
from tests.e2e.conftest import REPO, Stack, env_json, free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def _gridshare(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridshare_local.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _shown_now(stack: Stack) -> int:
    """`gridshare clock`, as an operator runs it: the stack's now (ISO 8601 UTC), in epoch ms."""
    shown = _gridshare("clock", env=stack.env)
    assert shown.returncode == 0, shown.stderr
    line = shown.stdout.strip()
    assert line.endswith("Z") and "T" in line, line
    return parse_time(line)


def test_advance_fires_a_due_schedule_and_moves_now_for_every_process(private_stack: Stack, tmp_path: Path) -> None:
    stack = private_stack
    endpoint = env_json(stack)["AWS_ENDPOINT_URL"]
    aws = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name="us-east-1",
    )
    sqs = aws.client("sqs", endpoint_url=endpoint)
    scheduler = aws.client("scheduler", endpoint_url=endpoint)

    # Given a schedule 10 minutes in the stack's future that sends its input to a queue
    start = _shown_now(stack)
    assert abs(start - time.time() * 1000) < 5_000  # a fresh stack runs on real time
    url = sqs.create_queue(QueueName="clock-e2e")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    in_10_minutes = datetime.fromtimestamp(start / 1000, tz=UTC) + timedelta(minutes=10)
    scheduler.create_schedule(
        Name="e2e-in-10-minutes",
        ScheduleExpression=f"at({in_10_minutes:%Y-%m-%dT%H:%M:%S})",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": "arn:aws:iam::123456789012:role/scheduler", "Input": '{"job": "e2e"}'},
    )
    # and a user with a meter, set up before the jump
    user = stack.register("clock@example.com")
    token = user["accessToken"]
    meter = stack.call("POST", "/v1/devices", {"name": "clock meter", "type": "meter"}, token=token).json()["data"]

    # Then it has not fired: the clock ticks every second; a 2 s long poll gives it the chance to misfire
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", []) == []

    # When the operator moves the stack's clock 20 minutes forward
    advanced = _gridshare("clock", "advance", "20m", env=stack.env)

    # Then the schedule fired, once, with its input
    assert advanced.returncode == 0, advanced.stdout + advanced.stderr
    lines = advanced.stdout.strip().splitlines()
    # e.g. the command expiry, every minute; a segmented job has one schedule per segment
    platform = {f"fired default/{name}" for s in resources.SCHEDULES for name, _ in s.invocations()}
    assert [line for line in lines[1:] if line not in platform] == ["fired default/e2e-in-10-minutes"], advanced.stdout
    assert parse_time(lines[0]) - start >= 20 * 60_000

    def arrived() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])

    messages = wait_for(arrived, timeout=15)
    assert [json.loads(m["Body"]) for m in messages] == [{"job": "e2e"}]

    # And `gridshare clock` shows the moved time, 20 minutes ahead of real time
    shown = _shown_now(stack)
    assert shown - time.time() * 1000 == pytest.approx(20 * 60_000, abs=10_000)
    assert shown >= parse_time(lines[0])

    # And every process follows: a device stamping readings with the stack's clock is not "from the
    # future" for ingest (more than 5 minutes ahead of real time), and tokens live in the same time
    stamped = StackClock(stack.api).now_ms()  # over GET /_local/clock: this process has no GS_CLOCK_FILE
    assert stamped - time.time() * 1000 > 19 * 60_000
    with DeviceConnection(meter, tmp_path / "meter") as device:
        device.send_telemetry({"ts": stamped, "seq": 1, "metrics": {"power_w": 420.0, "voltage_v": 230.0}})

    def stored() -> dict[str, Any] | None:
        response = stack.call("GET", f"/v1/devices/{meter['id']}/readings/latest", token=token)
        return response.json()["data"] if response.status_code == 200 else None

    reading = wait_for(stored)
    assert reading["seq"] == 1 and parse_time(reading["ts"]) == stamped
    assert parse_time(reading["receivedAt"]) >= parse_time(lines[0])  # the rule's timestamp(): the stack's clock
    assert stack.call("GET", "/v1/me", token=token).status_code == 200  # issued before, expires an hour later
    fresh = stack.call("POST", "/v1/auth/login", {"email": "clock@example.com", "password": "Passw0rd!x"})
    assert fresh.status_code == 200, fresh.text
    assert stack.call("GET", "/v1/me", token=fresh.json()["data"]["accessToken"]).status_code == 200


def test_clock_commands_fail_clearly_without_a_running_stack(tmp_path: Path) -> None:
    env = {**os.environ, "GS_STATE_DIR": str(tmp_path), "GS_API_PORT": str(free_port())}
    env.pop("GS_API_URL", None)
    for args in (("clock",), ("clock", "advance", "20m")):
        result = _gridshare(*args, env=env)
        assert result.returncode == 3, result
        assert f"no local stack at {tmp_path}" in result.stderr and "Traceback" not in result.stderr


def test_clock_advance_refuses_a_bad_duration_before_calling_anything() -> None:
    result = _gridshare("clock", "advance", "20x", env=dict(os.environ))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'20x' is not a duration" in result.stderr
