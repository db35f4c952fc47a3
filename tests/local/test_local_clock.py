"""Which schedules the local clock fires, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridshare_local.clock import is_due

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_rate_fires_once_per_period() -> None:
    assert not is_due("rate(5 minutes)", T0 + timedelta(minutes=4), None, T0)
    assert is_due("rate(5 minutes)", T0 + timedelta(minutes=5), None, T0)
    assert not is_due("rate(5 minutes)", T0 + timedelta(minutes=7), T0 + timedelta(minutes=5), T0)
    assert is_due("rate(1 hour)", T0 + timedelta(hours=1), None, T0)


def test_at_fires_once() -> None:
    assert not is_due("at(2026-11-24T12:30:00)", T0, None, T0)
    assert is_due("at(2026-11-24T12:30:00)", T0 + timedelta(minutes=30), None, T0)
    assert not is_due("at(2026-11-24T12:30:00)", T0 + timedelta(minutes=31), T0 + timedelta(minutes=30), T0)


def test_cron_matches_aws_fields() -> None:
    # every 15 minutes, Monday-Friday (AWS: 1 = Sunday; 2026-11-24 is a Tuesday = 3)
    expression = "cron(0/15 * ? * 2-6 *)"
    assert is_due(expression, T0, None, T0)
    assert not is_due(expression, T0 + timedelta(minutes=7), None, T0)
    assert not is_due(expression, T0, T0, T0)  # already fired this minute
    assert not is_due("cron(0 12 ? * 1 *)", T0, None, T0)  # Sundays only


def test_unsupported_expressions_are_refused() -> None:
    with pytest.raises(ValueError):
        is_due("every tuesday", T0, None, T0)
