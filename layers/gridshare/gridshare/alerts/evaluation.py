"""Pure evaluation of alert rules: a rule and an observation (a reading, a status change) -> what happens to
the (rule, device)'s alert, with the `forS` hold-down on both edges.

The state of one (rule, device) is a `Hold`: since when the condition has held (`breach_since`), since when
it has been clear while an alert is open (`clear_since`), whether an alert is open, and the time of the last
observation applied (older ones are ignored, so a redelivered or late batch changes nothing).

Invariants (tests/unit/alerts/test_evaluation.py, property tests):
- an alert opens only after the condition has held for `for_s` (observed at both ends);
- at most one alert is open at a time: OPEN only from `open=False`, RESOLVE only from `open=True`;
- an open alert resolves only after the condition has been clear for `for_s`;
- observations at or before `last_at` are ignored (idempotent replays).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

KINDS: Final = ("threshold", "leak", "offline", "low_level", "generation_drop", "consumption_spike")
OPERATORS: Final = (">", ">=", "<", "<=")
SEVERITIES: Final = ("info", "warning", "critical")
CHANNELS: Final = ("push", "email", "sms", "websocket")
READING_KINDS: Final = frozenset({"threshold", "leak", "low_level"})
"""Kinds evaluated on ReadingsAccepted; `offline` is evaluated on DeviceStatusChanged."""

Value = float | int | bool


@dataclass(frozen=True)
class RuleSpec:
    """What evaluation needs of a rule."""

    kind: str
    metric: str | None = None
    operator: str | None = None
    threshold: float | None = None
    for_s: int = 0


@dataclass(frozen=True)
class Hold:
    breach_since: int | None = None
    clear_since: int | None = None
    open: bool = False
    last_at: int | None = None


class Action(Enum):
    NONE = "none"
    OPEN = "open"  # an alert opens
    REPEAT = "repeat"  # the open alert's condition was seen again: count + 1, lastValue
    RESOLVE = "resolve"  # the open alert auto-resolves


def compare(value: float, operator: str, threshold: float) -> bool:
    if operator == ">":
        return value > threshold
    if operator == ">=":
        return value >= threshold
    if operator == "<":
        return value < threshold
    if operator == "<=":
        return value <= threshold
    raise ValueError(f"unknown operator {operator!r}")


def observed_value(rule: RuleSpec, metrics: dict[str, Value]) -> Value | None:
    """The value the rule looks at in a reading, or None if the reading does not carry it."""
    metric = "leak" if rule.kind == "leak" else rule.metric
    if metric is None or metric not in metrics:
        return None
    return metrics[metric]


def breached(rule: RuleSpec, value: Value) -> bool:
    """Whether `value` (of the rule's metric) breaches the rule."""
    if rule.kind == "leak":
        return value is True
    if isinstance(value, bool) or rule.operator is None or rule.threshold is None:
        return False
    return compare(float(value), rule.operator, rule.threshold)


def step(rule: RuleSpec, hold: Hold, breach: bool, at: int) -> tuple[Hold, Action]:
    """Apply one observation (`breach` at `at`, epoch ms) to the hold; the new hold and what happens."""
    if hold.last_at is not None and at <= hold.last_at:
        return hold, Action.NONE
    hold_ms = max(0, rule.for_s) * 1000
    if breach:
        since = hold.breach_since if hold.breach_since is not None else at
        if hold.open:
            return Hold(since, None, True, at), Action.REPEAT
        if at - since >= hold_ms:
            return Hold(since, None, True, at), Action.OPEN
        return Hold(since, None, False, at), Action.NONE
    if not hold.open:
        return Hold(None, None, False, at), Action.NONE
    clear = hold.clear_since if hold.clear_since is not None else at
    if at - clear >= hold_ms:
        return Hold(None, None, False, at), Action.RESOLVE
    return Hold(None, clear, True, at), Action.NONE


def closed(hold: Hold) -> Hold:
    """The hold after the alert was resolved or removed by hand: the next breach starts a new hold-down."""
    return replace(hold, open=False, breach_since=None, clear_since=None)


@dataclass(frozen=True)
class Event:
    """One OPEN, REPEAT or RESOLVE, at the observation that caused it, with the value observed."""

    action: Action
    at: int
    value: Value | None


def fold(rule: RuleSpec, hold: Hold, observations: list[tuple[int, bool, Value | None]]) -> tuple[Hold, list[Event]]:
    """Apply observations (at, breach, value) in time order: the final hold and what happened, in order."""
    events: list[Event] = []
    for at, breach, value in sorted(observations, key=lambda o: o[0]):
        hold, action = step(rule, hold, breach, at)
        if action is not Action.NONE:
            events.append(Event(action, at, value))
    return hold, events


def same_hold(a: Hold, b: Hold) -> bool:
    """Equal but for the time of the last observation (nothing worth a write)."""
    return (a.breach_since, a.clear_since, a.open) == (b.breach_since, b.clear_since, b.open)


def milestone(before: int, after: int) -> int | None:
    """The largest count in (before, after] worth an AlertUpdated (update_worth_publishing), if any."""
    best = 2 if before < 2 <= after else None
    power = 10
    while power <= after:
        if power > before:
            best = power
        power *= 10
    return best


def update_worth_publishing(count: int) -> bool:
    """Repeats are not news on every reading: an open alert's AlertUpdated for its count is published at
    counts 2, 10, 100, 1000, ... (a handful per alert however long it lasts)."""
    if count == 2:
        return True
    if count < 10:
        return False
    while count % 10 == 0:
        count //= 10
    return count == 1


@dataclass(frozen=True)
class Reminder:
    """What the reminder schedule does with a due alert."""

    remind: bool  # True: send reminder number `number`; False: escalate
    number: int
    next_at: int | None  # the next due time, None when nothing more is due


def next_reminder(sent: int, now: int, every_s: int, max_reminders: int) -> Reminder:
    """A critical unacknowledged alert is reminded every `every_s`, at most `max_reminders` times, then
    escalated once (to operators), after which nothing more is due."""
    if sent < max_reminders:
        return Reminder(True, sent + 1, now + every_s * 1000)
    return Reminder(False, sent, None)
