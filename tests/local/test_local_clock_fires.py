"""The local clock fires Scheduler schedules stored in moto, and moving it (the local-only routes) fires
what fell due in the skipped span, once each, in order. Time is fixed or moved, never waited for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

from gridshare.kernel import clock
from gridshare_local.clock import LocalClock, install
from tests.support.api import check_contract

ROLE = "arn:aws:iam::123456789012:role/scheduler"


def _queue(name: str = "clock-target") -> tuple[str, str]:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _schedule(name: str, expression: str, arn: str, **extra: Any) -> None:
    boto3.client("scheduler").create_schedule(
        Name=name,
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"job": name})},
        **extra,
    )


def _received(url: str) -> list[str]:
    sqs = boto3.client("sqs")
    jobs: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            jobs.append(json.loads(message["Body"])["job"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return jobs


def test_the_platform_schedules_are_provisioned_and_invoke_their_functions(aws: dict[str, str]) -> None:
    from gridshare.kernel import resources

    # Given the schedules the provisioning created from resources.SCHEDULES (as CDK does)
    invoked: list[tuple[str, dict[str, Any]]] = []
    local = LocalClock("us-east-1", invoke_lambda=lambda arn, event: invoked.append((arn, event)))
    with clock.frozen("2026-11-24T12:00:00Z") as frozen:
        assert local.tick() == []
        # When a minute passes, each rate(1 minute) schedule invokes its function (by name) with its input
        frozen.advance(60)
        fired = local.tick()
    expected = [s for s in resources.SCHEDULES if s.expression == "rate(1 minute)"]
    assert expected and sorted(fired) == sorted(f"default/{s.name}" for s in expected)  # same due time: by name
    assert sorted(arn.rsplit(":", 1)[-1] for arn, _ in invoked) == sorted(s.name for s in expected)
    assert all(event == {} for _, event in invoked)


@pytest.fixture
def own_schedules_only(aws: dict[str, str]) -> None:
    """The tests below watch schedules of their own: the platform's (provisioned) are removed first."""
    scheduler = boto3.client("scheduler")
    for summary in scheduler.list_schedules()["Schedules"]:
        scheduler.delete_schedule(Name=summary["Name"], GroupName=summary.get("GroupName") or "default")


def test_a_due_schedule_delivers_its_input_to_sqs(aws: dict[str, str], own_schedules_only: None) -> None:
    url, arn = _queue()
    _schedule("mark-offline", "rate(5 minutes)", arn)
    local = LocalClock("us-east-1", invoke_lambda=lambda *_: None)
    with clock.frozen("2026-11-24T12:00:00Z") as frozen:
        assert local.tick() == []  # first seen: anchored at 12:00
        frozen.advance(5 * 60)
        assert local.tick() == ["default/mark-offline"]
        assert local.tick() == []
    assert _received(url) == ["mark-offline"]


@pytest.fixture
def clock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "clock.json"
    monkeypatch.setenv(clock.CLOCK_FILE_ENV, str(path))
    return path


@pytest.fixture
def running_clock(clock_file: Path) -> Iterator[LocalClock]:
    local = LocalClock("us-east-1", invoke_lambda=lambda *_: None, clock_file=clock_file)  # not started: no ticks
    install(local)
    yield local
    install(None)


@pytest.fixture
def client() -> Iterator[Client]:
    """The local clock routes alone (public, local-only): no AWS needed to parse and answer."""
    from gridshare.app_factory import make_app
    from gridshare_local import clock_api

    app = make_app("gridshare-clock-test", contexts=())
    app.register_blueprint(clock_api.api.build())
    with Client(app) as test_client:
        yield test_client


def _advance(client: Client, body: Any) -> Any:
    response = client.http.post(
        "/_local/clock/advance", headers={"Content-Type": "application/json"}, body=json.dumps(body)
    )
    check_contract("POST", "/_local/clock/advance", response)
    return response.status_code, json.loads(response.body)


def _now(client: Client) -> dict[str, Any]:
    response = client.http.get("/_local/clock")
    check_contract("GET", "/_local/clock", response)
    return json.loads(response.body)["data"]


def test_advance_fires_what_fell_due_in_the_skipped_span_once_each_in_order(
    aws: dict[str, str], own_schedules_only: None, running_clock: LocalClock, client: Client
) -> None:
    url, arn = _queue()
    start = clock.now()
    at = (start.replace(microsecond=0) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S")
    earlier = (start.replace(microsecond=0) + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S")
    later = (start.replace(microsecond=0) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    _schedule("in-10-minutes", f"at({at})", arn, ActionAfterCompletion="DELETE")
    _schedule("every-5-minutes", "rate(5 minutes)", arn)
    _schedule("in-3-minutes", f"at({earlier})", arn)
    _schedule("in-30-minutes", f"at({later})", arn)
    _schedule("nightly", "cron(0 3 * * ? *)", arn)  # not fired locally (nothing uses cron)
    assert running_clock.tick() == []
    assert _received(url) == []

    status, body = _advance(client, {"seconds": 20 * 60})

    assert status == 200, body
    data = body["data"]
    assert data["fired"] == ["default/in-3-minutes", "default/every-5-minutes", "default/in-10-minutes"]
    assert data["offsetS"] == 1200
    assert data["nowMs"] - int(start.timestamp() * 1000) == pytest.approx(1_200_000, abs=5_000)
    assert data["now"] == clock.to_iso(data["nowMs"])
    assert _received(url) == ["in-3-minutes", "every-5-minutes", "in-10-minutes"]
    # the one-time schedule asked to be deleted after completion is gone; the other stays
    names = {s["Name"] for s in boto3.client("scheduler").list_schedules()["Schedules"]}
    assert "in-10-minutes" not in names and "in-3-minutes" in names

    # every reader of the clock file sees the new now
    assert clock.offset_ms() == 1_200_000
    got = _now(client)
    assert got["offsetS"] == 1200 and got["nowMs"] >= data["nowMs"]

    # a second advance: only what falls due then
    status, body = _advance(client, {"seconds": 10 * 60})
    assert body["data"]["fired"] == ["default/every-5-minutes", "default/in-30-minutes"]
    assert body["data"]["offsetS"] == 1800
    assert running_clock.tick() == []


@pytest.mark.parametrize(
    "body", [{}, {"seconds": 0}, {"seconds": -5}, {"seconds": "60"}, {"seconds": 1.5}, {"seconds": True}]
)
def test_advance_refuses_anything_but_a_positive_whole_number_of_seconds(
    running_clock: LocalClock, client: Client, body: dict[str, Any]
) -> None:
    status, problem = _advance(client, body)
    assert status == 422, problem
    assert [e["field"] for e in problem["errors"]] == ["seconds"]
    assert clock.offset_ms() == 0


def test_get_clock_reports_real_time_before_any_advance(clock_file: Path, client: Client) -> None:
    data = _now(client)
    assert data["offsetS"] == 0
    assert data["nowMs"] == pytest.approx(clock.now_ms(), abs=5_000)
    assert data["now"].endswith("Z")


def test_advance_without_a_running_clock_is_a_problem_not_a_crash(clock_file: Path, client: Client) -> None:
    status, problem = _advance(client, {"seconds": 60})
    assert status == 503 and "not running" in problem["detail"]


def test_tokens_are_issued_and_checked_on_the_moved_clock(api: Any) -> None:
    """Moto's Cognito stamps tokens on the kernel clock in the local stack (moto_patches), and the platform
    checks them on it: after a jump a fresh login works, and its token is 'from the future' to real time."""
    import jwt

    from gridshare_local.moto_patches import install_stack_time
    from tests.support.api import register_user

    install_stack_time()  # process-wide; without an offset or a frozen clock it is real time
    later = clock.now_ms() + 2 * 3600_000
    with clock.frozen(later):
        login = register_user(api, "later@example.com")
        claims = jwt.decode(login["accessToken"], options={"verify_signature": False})
        assert claims["iat"] == later // 1000 and claims["exp"] == later // 1000 + 3600
        assert api.call("GET", "/v1/me", token=login["accessToken"]).status_code == 200
    assert api.call("GET", "/v1/me", token=login["accessToken"]).status_code == 401  # real time: iat ahead


def test_advance_only_moves_forward_and_only_with_a_clock_file(clock_file: Path) -> None:
    with pytest.raises(ValueError):
        LocalClock("us-east-1", invoke_lambda=lambda *_: None, clock_file=clock_file).advance(0)
    with pytest.raises(RuntimeError):
        LocalClock("us-east-1", invoke_lambda=lambda *_: None).advance(60)
    assert clock.offset_ms() == 0
