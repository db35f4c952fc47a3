"""Time ranges and page sizes of list and history routes (gridshare.http.ranges): one set of rules."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError

from gridshare.app_factory import make_app
from gridshare.http import models, ranges
from gridshare.http.api import ROUTES
from gridshare.http.pagination import MAX_HISTORY_LIMIT, MAX_LIMIT
from gridshare.kernel import clock
from gridshare.kernel.errors import InvalidInput

NOW = "2026-11-24T12:00:00.000Z"
NOW_MS = clock.parse_time(NOW)
DAY = ranges.DAY_MS


class ThirtyDays(models.RangeQuery):
    DEFAULT_SPAN_DAYS: ClassVar[int] = 2
    MAX_SPAN_DAYS: ClassVar[int | None] = 30


def _fields(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e.field for e in exc.value.errors]


def test_a_time_is_sane_from_2000_to_a_day_after_now() -> None:
    assert ranges.check_time("2000-01-01T00:00:00Z", now_ms=NOW_MS) == ranges.EARLIEST_MS
    assert ranges.check_time(str(NOW_MS + DAY), now_ms=NOW_MS) == NOW_MS + DAY
    for value, message in (
        ("-1", "before 2000"),
        ("0", "before 2000"),
        ("1999-12-31T23:59:59.999Z", "before 2000"),
        (str(NOW_MS + DAY + 1), "24 hours after now"),
        ("99999999999999", "24 hours after now"),
        ("9999-12-31T23:59:59Z", "24 hours after now"),
        ("yesterday", "not an ISO 8601 time"),
    ):
        with pytest.raises(ValueError, match=message):
            ranges.check_time(value, now_ms=NOW_MS)


def test_a_closed_window_defaults_to_the_span_before_now_and_is_bounded() -> None:
    # Given no times: the default span up to now (now included)
    assert ranges.window(None, None, default_span_days=1, max_span_days=31, now_ms=NOW_MS) == ranges.Window(
        NOW_MS + 1 - DAY, NOW_MS + 1
    )
    # Given only `to`: the default span before it
    assert ranges.window(None, NOW_MS - DAY, default_span_days=7, max_span_days=92, now_ms=NOW_MS).start == (
        NOW_MS - 8 * DAY
    )
    # Exactly the maximum span is allowed; a millisecond more names `from`
    assert ranges.window(NOW_MS - 31 * DAY, NOW_MS, default_span_days=1, max_span_days=31).end == NOW_MS
    with pytest.raises(InvalidInput) as too_long:
        ranges.window(NOW_MS - 31 * DAY - 1, NOW_MS, default_span_days=1, max_span_days=31, what=" at raw")
    assert _fields(too_long) == ["from"] and "at most 31 days before 'to' at raw" in too_long.value.errors[0].message
    # `from` must be before `to`, also when `to` is now by default
    for start, end in ((NOW_MS, NOW_MS), (NOW_MS + 1, NOW_MS), (NOW_MS + 2, None)):
        with pytest.raises(InvalidInput) as empty:
            ranges.window(start, end, default_span_days=1, max_span_days=None, now_ms=NOW_MS)
        assert _fields(empty) == ["from"]


def test_an_open_range_may_leave_either_side_out_and_is_checked_when_both_are_given() -> None:
    assert ranges.bounds(None, None, max_span_days=366) == (None, None)
    assert ranges.bounds(NOW_MS - 5000 * DAY, None, max_span_days=366) == (NOW_MS - 5000 * DAY, None)
    assert ranges.bounds(None, NOW_MS, max_span_days=366) == (None, NOW_MS)
    assert ranges.bounds(NOW_MS - 366 * DAY, NOW_MS, max_span_days=366) == (NOW_MS - 366 * DAY, NOW_MS)
    for start in (NOW_MS - 366 * DAY - 1, NOW_MS, NOW_MS + 1):
        with pytest.raises(InvalidInput) as refused:
            ranges.bounds(start, NOW_MS, max_span_days=366)
        assert _fields(refused) == ["from"]


def test_a_range_query_checks_times_while_parsing_and_spans_when_asked() -> None:
    with clock.frozen(NOW):
        # Times out of bounds are 422s naming each parameter, before any span rule
        with pytest.raises(ValidationError) as insane:
            ThirtyDays.model_validate({"from": "-1", "to": "99999999999999"})
        assert [e["loc"] for e in insane.value.errors()] == [("from",), ("to",)]
        # Defaults and spans
        assert ThirtyDays.model_validate({}).window() == ranges.Window(NOW_MS + 1 - 2 * DAY, NOW_MS + 1)
        query = ThirtyDays.model_validate({"from": str(NOW_MS - 30 * DAY), "to": NOW})
        assert (query.from_ms, query.to_ms) == (NOW_MS - 30 * DAY, NOW_MS)
        assert query.window() == ranges.Window(NOW_MS - 30 * DAY, NOW_MS) and query.bounds() == (
            NOW_MS - 30 * DAY,
            NOW_MS,
        )
        with pytest.raises(InvalidInput) as too_long:
            ThirtyDays.model_validate({"from": "2026-10-01T00:00:00Z"}).window()
        assert _fields(too_long) == ["from"]


def test_every_list_route_bounds_its_page_size_and_its_time_range() -> None:
    make_app("ranges-check")
    lists = {(spec.method, spec.path): spec for spec in ROUTES if spec.paginated}
    assert ("GET", "/v1/devices/{id}/readings") in lists and ("GET", "/v1/security/events") in lists
    for (method, path), spec in lists.items():
        assert spec.query is not None
        limit = spec.query.model_fields["limit"]
        maximum = next(m.le for m in limit.metadata if getattr(m, "le", None) is not None)
        assert maximum <= (MAX_HISTORY_LIMIT if path == "/v1/devices/{id}/readings" else MAX_LIMIT), (method, path)
    for spec in ROUTES:
        if spec.query is not None and "from_" in spec.query.model_fields:
            assert issubclass(spec.query, models.RangeQuery), f"{spec.method} {spec.path}"
            description = spec.query.model_fields["from_"].description or ""
            assert ranges.EARLIEST in description, f"{spec.method} {spec.path}"
            if spec.paginated:  # a list's window has a maximum span
                assert spec.query.model_construct().max_span_days() is not None, f"{spec.method} {spec.path}"
