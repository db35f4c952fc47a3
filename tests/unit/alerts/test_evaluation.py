"""The pure evaluation of alert rules: conditions per kind, the forS hold-down on both edges, at most one
open alert, idempotent replays, the bounded AlertUpdated milestones and the reminder steps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gridshare.alerts.evaluation import (
    Action,
    Hold,
    RuleSpec,
    breached,
    fold,
    milestone,
    next_reminder,
    observed_value,
    step,
    update_worth_publishing,
)

LEAK = RuleSpec("leak")
HOT = RuleSpec("threshold", "power_w", ">", 5000.0, for_s=60)

observations = st.lists(
    st.tuples(st.integers(0, 10_000_000), st.booleans(), st.none()), min_size=0, max_size=60, unique_by=lambda o: o[0]
)
rules = st.builds(
    RuleSpec,
    kind=st.just("threshold"),
    metric=st.just("power_w"),
    operator=st.just(">"),
    threshold=st.just(0.0),
    for_s=st.integers(0, 600),
)


def test_conditions_per_kind() -> None:
    assert breached(LEAK, True) and not breached(LEAK, False)
    assert breached(HOT, 5001) and not breached(HOT, 5000) and not breached(HOT, True)
    assert breached(RuleSpec("low_level", "gas_level_pct", "<", 20.0), 19.5)
    assert observed_value(LEAK, {"leak": False}) is False
    assert observed_value(HOT, {"leak": True}) is None


def test_a_breach_opens_at_once_with_for_s_zero_and_repeats_after() -> None:
    hold, action = step(LEAK, Hold(), True, 1000)
    assert action is Action.OPEN and hold.open
    hold, action = step(LEAK, hold, True, 2000)
    assert action is Action.REPEAT
    hold, action = step(LEAK, hold, False, 3000)
    assert action is Action.RESOLVE and not hold.open


def test_for_s_holds_both_edges() -> None:
    hold, events = fold(HOT, Hold(), [(0, True, 6000), (30_000, True, 6000)])
    assert events == [] and hold.breach_since == 0
    hold, events = fold(HOT, hold, [(60_000, True, 7000)])
    assert [e.action for e in events] == [Action.OPEN] and events[0].value == 7000
    hold, events = fold(HOT, hold, [(61_000, False, 1), (100_000, False, 1)])
    assert events == [] and hold.open
    hold, events = fold(HOT, hold, [(121_000, False, 1)])
    assert [e.action for e in events] == [Action.RESOLVE]


def test_a_breach_interrupted_starts_its_hold_down_again() -> None:
    hold, events = fold(HOT, Hold(), [(0, True, 1), (50_000, False, 1), (100_000, True, 1), (150_000, True, 1)])
    assert events == [] and hold.breach_since == 100_000


@given(rules, observations)
def test_open_and_resolve_alternate_and_repeats_only_while_open(rule: RuleSpec, obs: list) -> None:
    hold, events = fold(rule, Hold(), obs)
    is_open = False
    for event in events:
        if event.action is Action.OPEN:
            assert not is_open
            is_open = True
        elif event.action is Action.RESOLVE:
            assert is_open
            is_open = False
        else:
            assert is_open
    assert hold.open == is_open


@given(rules, observations)
def test_an_alert_opens_only_after_the_condition_held_for_s(rule: RuleSpec, obs: list) -> None:
    ordered = sorted(obs)
    _, events = fold(rule, Hold(), obs)
    for event in (e for e in events if e.action is Action.OPEN):
        # every observation in the for_s window before the open was a breach, and one was at its start
        window = [o for o in ordered if event.at - rule.for_s * 1000 <= o[0] <= event.at]
        assert all(o[1] for o in window)
        earlier = [o for o in ordered if o[0] <= event.at]
        streak_start = event.at
        for at, breach, _ in reversed(earlier):
            if not breach:
                break
            streak_start = at
        assert event.at - streak_start >= rule.for_s * 1000


@given(rules, observations)
def test_replaying_observations_changes_nothing(rule: RuleSpec, obs: list) -> None:
    hold, _ = fold(rule, Hold(), obs)
    again, events = fold(rule, hold, obs)
    assert events == [] and again == hold


@given(rules, observations, st.integers(0, 60))
def test_folding_in_two_batches_is_folding_once(rule: RuleSpec, obs: list, cut: int) -> None:
    ordered = sorted(obs)
    once_hold, once = fold(rule, Hold(), ordered)
    mid, first = fold(rule, Hold(), ordered[:cut])
    end, second = fold(rule, mid, ordered[cut:])
    assert first + second == once and end == once_hold


def test_updates_are_published_at_a_few_counts_only() -> None:
    assert [c for c in range(1, 2001) if update_worth_publishing(c)] == [2, 10, 100, 1000]
    assert milestone(1, 5) == 2 and milestone(2, 9) is None and milestone(5, 150) == 100 and milestone(0, 1) is None


@given(st.integers(0, 10**6), st.integers(1, 10**6))
def test_milestone_is_the_largest_publishable_count_crossed(before: int, extra: int) -> None:
    after = before + extra
    reached = milestone(before, after)
    crossed = [c for c in (2, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000) if before < c <= after]
    assert reached == (max(crossed) if crossed else None)


def test_reminders_then_one_escalation() -> None:
    steps = [next_reminder(sent, 0, 900, 4) for sent in range(5)]
    assert [(s.remind, s.number, s.next_at) for s in steps] == [
        (True, 1, 900_000),
        (True, 2, 900_000),
        (True, 3, 900_000),
        (True, 4, 900_000),
        (False, 4, None),
    ]
