"""A readings history is bounded work: a range per resolution, a page size, a deadline (against moto).

Readings older than ingest's backfill window are written through the store directly. The deadline is
met without sleeping: the kernel clock is frozen and each DynamoDB query of raw readings moves it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.kernel import clock
from gridshare.kernel.aws import client
from gridshare.kernel.deadline import Deadline
from gridshare.kernel.settings import reset_settings
from gridshare.telemetry.readings import CounterState, Reading
from gridshare.telemetry.store import TelemetryStore
from tests.support.api import Api, register_user
from tests.support.devices import create_device

DAY = 86_400_000
HOUR = 3_600_000


@pytest.fixture
def owner(api: Api) -> tuple[str, str]:
    """A prosumer's token and device id."""
    token = register_user(api, "bounded@example.com")["accessToken"]
    return token, create_device(api, token)["id"]


def _store(device_id: str, stamps: list[int]) -> None:
    """Readings at these times (power_w = their index), written as ingest would, in time order."""
    store, previous = TelemetryStore(), None
    for seq, ts in enumerate(stamps):
        state = CounterState(ts, seq, {})
        store.store(Reading(device_id, ts, seq, {"power_w": float(seq)}), [], previous, state, received_at=ts)
        previous = state


def _history(api: Api, token: str, device_id: str, **params: Any) -> Any:
    query = "&".join(f"{name}={value}" for name, value in {"metric": "power_w", **params}.items())
    return api.call("GET", f"/v1/devices/{device_id}/readings?{query}", token=token)


def _pages(api: Api, token: str, device_id: str, **params: Any) -> Iterator[dict[str, Any]]:
    cursor = None
    for _ in range(100):
        response = _history(api, token, device_id, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.body
        page = json.loads(response.body)
        yield page
        cursor = page["pagination"]["nextCursor"]
        if cursor is None:
            return
    raise AssertionError("the history never ended")


def test_an_unbounded_history_is_refused_at_once_naming_the_parameter(api: Api, owner: tuple[str, str]) -> None:
    token, device_id = owner
    for params, fields in (
        ({"from": "-1"}, ["from"]),
        ({"from": "0", "to": "99999999999999"}, ["from", "to"]),
        ({"from": "1999-12-31T23:59:59Z"}, ["from"]),
        ({"to": str(int(time.time() * 1000) + 2 * DAY)}, ["to"]),
    ):
        started = time.monotonic()
        response = _history(api, token, device_id, **params)
        assert time.monotonic() - started < 2, params  # no partition was read
        problem = json.loads(response.body)
        assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
        assert problem["type"].endswith("/validation") and [e["field"] for e in problem["errors"]] == fields, params


@pytest.mark.parametrize(("resolution", "days"), [("raw", 31), ("15m", 31), ("1h", 92), ("1d", 366)])
def test_each_resolution_answers_up_to_its_maximum_span_and_refuses_a_millisecond_more(
    api: Api, owner: tuple[str, str], resolution: str, days: int
) -> None:
    token, device_id = owner
    to = int(time.time() * 1000)
    ok = _history(api, token, device_id, resolution=resolution, **{"from": to - days * DAY, "to": to})
    assert ok.status_code == 200, ok.body
    refused = _history(api, token, device_id, resolution=resolution, **{"from": to - days * DAY - 1, "to": to})
    assert refused.status_code == 422
    (error,) = json.loads(refused.body)["errors"]
    assert error["field"] == "from" and f"at most {days} days" in error["message"]
    empty = _history(api, token, device_id, resolution=resolution, **{"from": to, "to": to})
    assert empty.status_code == 422 and json.loads(empty.body)["errors"][0]["field"] == "from"


def test_a_raw_history_of_exactly_31_days_answers_every_reading_and_pages_through_them(
    api: Api, owner: tuple[str, str]
) -> None:
    token, device_id = owner
    # Given readings at both ends of a 31-day window that starts mid-day (32 day partitions) and between
    to = (int(time.time() * 1000) // DAY) * DAY - 5 * HOUR
    start = to - 31 * DAY
    stamps = [start, start + 1, start + DAY // 2, start + 10 * DAY, to - DAY, to - 1]
    _store(device_id, [start - 1, *stamps, to])  # and one just outside each end
    # When it is read whole, and two at a time
    whole = json.loads(_history(api, token, device_id, **{"from": start, "to": to, "limit": 1000}).body)
    paged = [p for page in _pages(api, token, device_id, **{"from": start, "to": to, "limit": 2}) for p in page["data"]]
    # Then every reading in [from, to) comes once, oldest first
    assert [p["value"] for p in whole["data"]] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert paged == whole["data"] and whole["pagination"]["nextCursor"] is None
    # And the page size is bounded too
    too_big = _history(api, token, device_id, limit=1001)
    assert too_big.status_code == 422 and json.loads(too_big.body)["errors"][0]["field"] == "limit"


def test_pages_that_end_inside_the_last_day_partition_continue_to_its_end(api: Api, owner: tuple[str, str]) -> None:
    token, device_id = owner
    # Given five readings in one day partition, the range's last
    day = (int(time.time() * 1000) // DAY - 2) * DAY
    stamps = [day + hour * HOUR for hour in range(1, 6)]
    _store(device_id, stamps)
    # When they are read two a page (the second page resumes inside the partition and fills exactly)
    pages = list(_pages(api, token, device_id, **{"from": day, "to": day + DAY, "limit": 2}))
    # Then every reading comes once
    assert [p["value"] for page in pages for p in page["data"]] == [0.0, 1.0, 2.0, 3.0, 4.0]


class _SlowStore(TelemetryStore):
    """Each query of raw readings takes a second of the frozen kernel clock."""

    def __init__(self, frozen: clock.FrozenClock) -> None:
        super().__init__()
        self.frozen, self.queries = frozen, 0

    @property
    def _ddb(self) -> Any:
        store = self

        class Slow:
            def query(self, **kwargs: Any) -> Any:
                store.queries += 1
                store.frozen.advance(1)
                return client("dynamodb").query(**kwargs)

        return Slow()


def test_a_raw_page_stops_at_the_deadline_and_its_cursor_continues_where_it_stopped(
    aws: dict[str, str], owner: tuple[str, str]
) -> None:
    _, device_id = owner
    day0 = (int(time.time() * 1000) // DAY - 20) * DAY
    stamps = [day0 + d * DAY + h * HOUR for d in (0, 1, 3, 7) for h in (1, 2)]  # days 2, 4-6 are empty
    _store(device_id, stamps)
    with clock.frozen(day0 + 20 * DAY) as frozen:
        store = _SlowStore(frozen)
        seen: list[int] = []
        after, pages = None, 0
        while True:
            # a 3.5 s budget: the page stops before its fifth query
            rows, after = store.raw(device_id, day0, day0 + 9 * DAY, 100, after, deadline=Deadline.after(3_500))
            pages += 1
            seen += [row["ts"] for row in rows]
            if after is None:
                break
            assert pages < 10
        assert seen == stamps and pages == 3  # days 0-3, days 4-7, day 8
        # And a deadline long past still reads one partition per page: every page moves forward
        store.queries, after, late = 0, None, []
        for _ in range(20):
            rows, after = store.raw(device_id, day0, day0 + 9 * DAY, 100, after, deadline=Deadline(0))
            late += [row["ts"] for row in rows]
            if after is None:
                break
        assert late == stamps and store.queries == 9


def test_a_history_request_answers_within_its_deadline_with_a_cursor(
    api: Api, owner: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token, device_id = owner
    day0 = (int(time.time() * 1000) // DAY - 20) * DAY
    stamps = [day0 + d * DAY + HOUR for d in range(10)]
    _store(device_id, stamps)
    monkeypatch.setenv("GS_REQUEST_DEADLINE_MS", "2500")
    reset_settings()
    with clock.frozen() as frozen:
        # Given raw readings that take a second per day partition to read
        def slow_query(**_: Any) -> None:  # a handler's return value would stand for the response
            frozen.advance(1)

        client("dynamodb").meta.events.register("before-call.dynamodb.Query", slow_query)
        # When a 10-day history is read with a 2.5 s budget
        pages = list(_pages(api, token, device_id, **{"from": day0, "to": day0 + 10 * DAY, "limit": 100}))
    # Then each page holds what three partitions gave and the cursors continue to the end
    assert [len(page["data"]) for page in pages] == [3, 3, 3, 1]
    assert [p["ts"] for page in pages for p in page["data"]] == [clock.to_iso(ts) for ts in stamps]
