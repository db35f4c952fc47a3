"""Which schedules the local clock fires, when, and in which order; how far `gridshare clock advance`
moves it (no AWS, no waiting)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from gridshare_local.cli import parse_duration
from gridshare_local.clock import Expression, Tracked, due, parse_expression

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def tracked(key: str, expression: str, anchor: datetime = T0, timezone: str = "UTC") -> Tracked:
    return Tracked(key, parse_expression(expression, timezone), anchor=anchor)


def fire(schedules: list[Tracked], now: datetime) -> list[str]:
    """What the clock does at `now`: fire each due schedule once, in order, and remember it."""
    fired = due(schedules, now)
    for schedule in fired:
        schedule.last_due = schedule.latest_due(now)
    return [s.key for s in fired]


def test_expressions() -> None:
    assert parse_expression("rate(5 minutes)") == Expression(period=timedelta(minutes=5))
    assert parse_expression("rate(1 minute)") == Expression(period=timedelta(minutes=1))
    assert parse_expression("rate(2 hours)") == Expression(period=timedelta(hours=2))
    assert parse_expression("rate(1 day)") == Expression(period=timedelta(days=1))
    assert parse_expression("at(2026-11-24T12:30:00)").at == T0 + timedelta(minutes=30)
    berlin = parse_expression("at(2026-11-24T13:30:00)", "Europe/Berlin").at
    assert berlin is not None and berlin == T0 + timedelta(minutes=30)  # CET = UTC+1 in November


@pytest.mark.parametrize(
    "expression",
    ["cron(0/15 * ? * 2-6 *)", "rate(0 minutes)", "rate(5 weeks)", "at(2026-11-24 12:30)", "every tuesday", ""],
)
def test_other_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_expression(expression)


def test_rate_fires_once_per_period_from_its_anchor() -> None:
    schedule = tracked("default/every-5", "rate(5 minutes)")
    assert fire([schedule], T0 + timedelta(minutes=4, seconds=59)) == []
    assert fire([schedule], T0 + timedelta(minutes=5)) == ["default/every-5"]
    assert fire([schedule], T0 + timedelta(minutes=7)) == []
    assert fire([schedule], T0 + timedelta(minutes=10)) == ["default/every-5"]


def test_at_fires_once() -> None:
    schedule = tracked("default/once", "at(2026-11-24T12:30:00)")
    assert fire([schedule], T0 + timedelta(minutes=29)) == []
    assert fire([schedule], T0 + timedelta(minutes=30)) == ["default/once"]
    assert fire([schedule], T0 + timedelta(days=365)) == []
    assert schedule.next_due() is None


def test_a_jump_fires_each_due_schedule_once_in_order_of_due_time() -> None:
    schedules = [
        tracked("default/z-at-12-07", "at(2026-11-24T12:07:00)"),
        tracked("default/every-5", "rate(5 minutes)"),  # due 12:05, 12:10, 12:15, 12:20
        tracked("default/a-at-12-01", "at(2026-11-24T12:01:00)"),
        tracked("default/later", "at(2026-11-24T12:21:00)"),  # after the span
        tracked("default/hourly", "rate(1 hour)"),
    ]
    assert fire(schedules, T0 + timedelta(minutes=20)) == [
        "default/a-at-12-01",
        "default/every-5",
        "default/z-at-12-07",
    ]
    # the rate keeps its phase: next at 12:25, not 20 minutes after the jump
    assert schedules[1].next_due() == T0 + timedelta(minutes=25)
    assert fire(schedules, T0 + timedelta(minutes=21)) == ["default/later"]
    assert fire(schedules, T0 + timedelta(minutes=24)) == []
    assert fire(schedules, T0 + timedelta(hours=1)) == ["default/every-5", "default/hourly"]  # 12:25 < 13:00


def test_ties_are_fired_in_key_order() -> None:
    schedules = [tracked("g/b", "at(2026-11-24T12:01:00)"), tracked("g/a", "at(2026-11-24T12:01:00)")]
    assert fire(schedules, T0 + timedelta(minutes=1)) == ["g/a", "g/b"]


def test_an_at_in_the_past_when_first_seen_fires_at_once() -> None:
    schedule = tracked("default/late", "at(2026-11-24T11:00:00)")
    assert fire([schedule], T0) == ["default/late"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45", 45), ("90s", 90), ("20m", 1200), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (" 20M ", 1200)],
)
def test_durations_of_clock_advance(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "0m", "-5m", "20x", "m", "1.5h", "", "1h30", "20 minutes"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)
