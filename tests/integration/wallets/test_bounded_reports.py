"""Reads that cannot answer in part stop at the request's deadline with a 503 problem, never a timeout.

A statement's opening balance, an admin report over the ledger and the ledger's verification read until
they are done; on a ledger too large for one request, they answer 503 naming the work once the request's
budget (GS_REQUEST_DEADLINE_MS) has passed. A statement's date is bounded too (422 naming `date`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.wallets import Money, _data


@pytest.fixture
def slow_storage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every DynamoDB read takes 5 s of the frozen clock; the request's budget is 2.5 s."""
    from gridshare.kernel import clock
    from gridshare.kernel.aws import client
    from gridshare.kernel.settings import reset_settings

    monkeypatch.setenv("GS_REQUEST_DEADLINE_MS", "2500")
    reset_settings()
    with clock.frozen() as frozen:

        def slow(**_: Any) -> None:
            frozen.advance(5)

        events = client("dynamodb").meta.events
        for operation in ("Query", "Scan", "GetItem", "BatchGetItem"):
            events.register(f"before-call.dynamodb.{operation}", slow, unique_id=f"slow-{operation}")
        try:
            yield
        finally:
            for operation in ("Query", "Scan", "GetItem", "BatchGetItem"):
                events.unregister(f"before-call.dynamodb.{operation}", unique_id=f"slow-{operation}")
            monkeypatch.delenv("GS_REQUEST_DEADLINE_MS")
            reset_settings()


def _unavailable(response: Any, work: str) -> None:
    assert response.status_code == 503, response.body
    problem = json.loads(response.body)
    assert problem["type"].endswith("/unavailable") and work in problem["detail"], problem


def test_reads_that_cannot_answer_in_part_stop_at_the_deadline(money: Money, request: pytest.FixtureRequest) -> None:
    # Given a member with entries
    ola = money.member("ola@example.com")
    money.topup(ola, 1000)
    # When every storage read takes longer than the request's whole budget
    request.getfixturevalue("slow_storage")
    # Then each read that cannot answer in part stops with a 503 naming its work
    _unavailable(money.call("GET", "/v1/statements", ola), "A statement this far back")
    _unavailable(money.call("GET", "/v1/admin/metrics", money.admin), "A report over this much of the ledger")
    _unavailable(money.call("GET", "/v1/admin/ledger/verify", money.admin), "Verifying the whole ledger")


def test_the_same_reads_answer_when_storage_keeps_up(money: Money) -> None:
    ola = money.member("ola@example.com")
    money.topup(ola, 1000)
    assert _data(money.call("GET", "/v1/statements", ola))["statements"][0]["closing"] == 1000
    assert _data(money.call("GET", "/v1/admin/ledger/verify", money.admin))["ok"] is True


def test_a_statement_date_is_at_most_a_year_back_and_not_after_tomorrow(money: Money) -> None:
    ola = money.member("ola@example.com")
    today = datetime.now(tz=UTC).date()
    for day, ok in (
        (today, True),
        (today + timedelta(days=1), True),
        (today - timedelta(days=366), True),
        (today + timedelta(days=2), False),
        (today - timedelta(days=367), False),
    ):
        response = money.call("GET", f"/v1/statements?date={day.isoformat()}", ola)
        if ok:
            assert response.status_code == 200, (day, response.body)
        else:
            assert response.status_code == 422, (day, response.body)
            assert [e["field"] for e in json.loads(response.body)["errors"]] == ["date"]
