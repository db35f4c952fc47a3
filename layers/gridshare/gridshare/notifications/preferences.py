"""A user's notification preferences and the channel decision (pure; docs/notifications.md).

The decision, per recipient of an alert event (docs/events.md): a channel c is used iff c is among the event's
`channels` and the preferences allow it:
- `email`, `sms`, `push`: the matching boolean is on, the alert's severity is at least `min_severity`, and the
  moment is outside the quiet hours, except for a critical alert, which ignores them (a gas leak wakes you);
  `sms` also needs a phone number;
- `websocket`: a live view of an open app, not an interruption: neither severity nor quiet hours hold it back.
The in-app inbox always gets one entry, whatever the preferences.

Quiet hours are local times `start`-`end` ("HH:MM") in an IANA time zone; a window whose end is earlier than its
start runs across midnight (22:00-07:00), one whose start equals its end is empty. `start` is inside, `end` is
not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
CHANNELS: tuple[str, ...] = ("push", "email", "sms", "websocket")
INTERRUPTING: frozenset[str] = frozenset({"push", "email", "sms"})
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class PreferenceError(ValueError):
    """A preference value that cannot be used; `field` names it (camelCase, as at the edge)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_hhmm(value: str, field_name: str) -> time:
    match = HHMM.match(value)
    if match is None:
        raise PreferenceError(field_name, "a local time as HH:MM (00:00-23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def check_timezone(value: str, field_name: str = "quietHours.timezone") -> ZoneInfo:
    if not value or value.startswith(("/", ".")) or ".." in value:
        raise PreferenceError(field_name, "an IANA time zone such as Europe/Berlin")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PreferenceError(field_name, "an IANA time zone such as Europe/Berlin") from None


def check_phone(value: str) -> str:
    if not E164.match(value):
        raise PreferenceError("phone", "an E.164 number: '+', country code and number, 8-15 digits")
    return value


@dataclass(frozen=True)
class QuietHours:
    start: str  # "HH:MM", local
    end: str
    timezone: str  # IANA

    def __post_init__(self) -> None:
        parse_hhmm(self.start, "quietHours.start")
        parse_hhmm(self.end, "quietHours.end")
        check_timezone(self.timezone)

    def contains(self, at_ms: int) -> bool:
        """Whether the instant `at_ms` (epoch ms) falls inside the window, in the window's time zone."""
        local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        start = _minutes(parse_hhmm(self.start, "quietHours.start"))
        end = _minutes(parse_hhmm(self.end, "quietHours.end"))
        if start == end:
            return False
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end  # across midnight


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


@dataclass(frozen=True)
class Preferences:
    email: bool = True
    sms: bool = False
    push: bool = True
    phone: str | None = None
    min_severity: str = "info"
    quiet_hours: QuietHours | None = None

    def __post_init__(self) -> None:
        if self.phone is not None:
            check_phone(self.phone)
        if self.sms and self.phone is None:
            raise PreferenceError("phone", "required when sms is on")
        if self.min_severity not in SEVERITIES:
            raise PreferenceError("minSeverity", f"one of {', '.join(SEVERITIES)}")


DEFAULT_PREFERENCES = Preferences()


def severity_rank(severity: str) -> int:
    """info 0 < warning 1 < critical 2; an unknown severity ranks as critical (never silently dropped)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


@dataclass(frozen=True)
class Decision:
    """The channels one recipient gets for one alert event, and why the others were not used."""

    channels: tuple[str, ...]
    held: dict[str, str] = field(default_factory=dict)  # channel -> reason (for logs and tests)


def decide(requested: list[str] | tuple[str, ...], prefs: Preferences, severity: str, at_ms: int) -> Decision:
    """The channels of `requested` that `prefs` allow for an alert of `severity` at `at_ms` (module doc)."""
    used: list[str] = []
    held: dict[str, str] = {}
    critical = severity_rank(severity) >= severity_rank("critical")
    quiet = prefs.quiet_hours is not None and prefs.quiet_hours.contains(at_ms)
    for channel in CHANNELS:  # a stable order, whatever the event's
        if channel not in requested:
            continue
        if channel == "websocket":
            used.append(channel)
            continue
        if not getattr(prefs, channel):
            held[channel] = "off"
        elif channel == "sms" and prefs.phone is None:
            held[channel] = "no phone"
        elif severity_rank(severity) < severity_rank(prefs.min_severity):
            held[channel] = "below minSeverity"
        elif quiet and not critical:
            held[channel] = "quiet hours"
        else:
            used.append(channel)
    return Decision(tuple(used), held)


def to_json(prefs: Preferences) -> dict[str, object]:
    quiet = prefs.quiet_hours
    return {
        "email": prefs.email,
        "sms": prefs.sms,
        "push": prefs.push,
        "phone": prefs.phone,
        "minSeverity": prefs.min_severity,
        "quietHours": None if quiet is None else {"start": quiet.start, "end": quiet.end, "timezone": quiet.timezone},
    }


def from_json(document: dict[str, object]) -> Preferences:
    """Preferences from their stored (or edge) JSON; raises PreferenceError naming the field."""
    quiet = document.get("quietHours")
    quiet_hours = None
    if isinstance(quiet, dict):
        quiet_hours = QuietHours(str(quiet.get("start", "")), str(quiet.get("end", "")), str(quiet.get("timezone", "")))
    phone = document.get("phone")
    return Preferences(
        email=bool(document.get("email", True)),
        sms=bool(document.get("sms", False)),
        push=bool(document.get("push", True)),
        phone=str(phone) if phone is not None else None,
        min_severity=str(document.get("minSeverity", "info")),
        quiet_hours=quiet_hours,
    )
