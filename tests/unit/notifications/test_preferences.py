"""The channel decision and quiet hours (gridshare.notifications.preferences)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.notifications import preferences as P

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"]
hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
instants = st.integers(1_600_000_000_000, 2_000_000_000_000)


def _ms(text: str, zone: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def test_a_window_across_midnight_holds_the_night_in_its_own_time_zone() -> None:
    # Given quiet hours 22:00-07:00 in Berlin
    quiet = P.QuietHours("22:00", "07:00", "Europe/Berlin")
    # Then 23:30 and 06:59 Berlin time are inside, 07:00 and 21:59 are not, whatever UTC says
    assert quiet.contains(_ms("2026-01-10T23:30", "Europe/Berlin"))
    assert quiet.contains(_ms("2026-01-11T06:59", "Europe/Berlin"))
    assert not quiet.contains(_ms("2026-01-11T07:00", "Europe/Berlin"))
    assert not quiet.contains(_ms("2026-01-10T21:59", "Europe/Berlin"))
    # And 22:30 UTC (23:30 in Berlin in winter) is inside, 22:30 in New York is not a Berlin night
    assert quiet.contains(_ms("2026-01-10T22:30", "UTC"))
    assert not quiet.contains(_ms("2026-01-10T10:00", "America/New_York"))


@given(start=hhmm, end=hhmm, zone=st.sampled_from(ZONES), at=instants)
def test_inside_means_the_local_minute_is_in_the_window(start: str, end: str, zone: str, at: int) -> None:
    quiet = P.QuietHours(start, end, zone)
    local = datetime.fromtimestamp(at / 1000, tz=UTC).astimezone(ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    s, e = (int(start[:2]) * 60 + int(start[3:])), (int(end[:2]) * 60 + int(end[3:]))
    # A day's minutes split into the window and the rest: across midnight when end < start, empty when equal
    expected = (s <= minute < e) if s <= e else (minute >= s or minute < e)
    assert quiet.contains(at) == expected


@given(start=hhmm, end=hhmm, zone=st.sampled_from(ZONES), at=instants)
def test_a_window_and_its_complement_cover_every_instant_once(start: str, end: str, zone: str, at: int) -> None:
    if start == end:
        return
    assert P.QuietHours(start, end, zone).contains(at) != P.QuietHours(end, start, zone).contains(at)


@given(
    requested=st.lists(st.sampled_from(P.CHANNELS), unique=True),
    email=st.booleans(),
    sms=st.booleans(),
    push=st.booleans(),
    min_severity=st.sampled_from(P.SEVERITIES),
    severity=st.sampled_from(P.SEVERITIES),
    quiet=st.booleans(),
    at=instants,
)
def test_decision_is_the_contract(
    requested: list[str], email: bool, sms: bool, push: bool, min_severity: str, severity: str, quiet: bool, at: int
) -> None:
    # Given preferences, with quiet hours that hold every instant or none
    window = P.QuietHours("00:00", "23:59", "UTC") if quiet else None
    prefs = P.Preferences(
        email=email, sms=sms, push=push, phone="+4915123456789", min_severity=min_severity, quiet_hours=window
    )
    at_in_window = window is not None and window.contains(at)
    # When the channels are decided
    decision = P.decide(requested, prefs, severity, at)
    # Then a channel is used iff requested and allowed; critical ignores quiet hours; websocket is never held
    for channel in P.CHANNELS:
        allowed = channel in requested and (
            channel == "websocket"
            or (
                {"email": email, "sms": sms, "push": push}[channel]
                and P.severity_rank(severity) >= P.severity_rank(min_severity)
                and (not at_in_window or severity == "critical")
            )
        )
        assert (channel in decision.channels) == allowed, (channel, decision)
    assert set(decision.channels) <= set(requested)


def test_quiet_hours_hold_a_warning_but_not_a_critical() -> None:
    prefs = P.Preferences(sms=True, phone="+4915123456789", quiet_hours=P.QuietHours("22:00", "07:00", "UTC"))
    night = _ms("2026-03-01T23:00", "UTC")
    assert P.decide(["email", "sms"], prefs, "warning", night).channels == ()
    assert P.decide(["email", "sms"], prefs, "critical", night).channels == ("email", "sms")
    assert P.decide(
        ["email", "sms"], prefs, "warning", night + int(timedelta(hours=9).total_seconds() * 1000)
    ).channels == (
        "email",
        "sms",
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"phone": "0151 234"}, "phone"),
        ({"phone": "+0123456789"}, "phone"),
        ({"sms": True}, "phone"),
        ({"minSeverity": "loud"}, "minSeverity"),
        ({"quietHours": {"start": "24:00", "end": "07:00", "timezone": "UTC"}}, "quietHours.start"),
        ({"quietHours": {"start": "22:00", "end": "7:00", "timezone": "UTC"}}, "quietHours.end"),
        ({"quietHours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}}, "quietHours.timezone"),
        ({"quietHours": {"start": "22:00", "end": "07:00", "timezone": "../etc/passwd"}}, "quietHours.timezone"),
    ],
)
def test_invalid_preferences_name_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(P.PreferenceError) as raised:
        P.from_json(document)
    assert raised.value.field == field


def test_preferences_round_trip_and_defaults() -> None:
    prefs = P.Preferences(
        sms=True,
        phone="+14155550123",
        min_severity="warning",
        quiet_hours=P.QuietHours("22:00", "07:00", "America/New_York"),
    )
    assert P.from_json(P.to_json(prefs)) == prefs
    assert P.from_json({}) == P.DEFAULT_PREFERENCES
    assert P.to_json(P.DEFAULT_PREFERENCES) == {
        "email": True,
        "sms": False,
        "push": True,
        "phone": None,
        "minSeverity": "info",
        "quietHours": None,
    }
