"""Threat detection over security events (gridshare.identity.threats)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.identity.threats import (
    BRUTE_FORCE,
    CREDENTIAL_STUFFING,
    TOKEN_REUSE_AFTER_LOGOUT,
    SecurityEvent,
    Threat,
    busiest_window,
    detect_threats,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN = 60_000
HOUR = 3_600_000
REVOKED = {"reason": "The token has been revoked.", "path": "/v1/me"}

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def failed(at: int, account: str = "acct-a", ip: str = "10.0.0.1", user: str | None = None) -> SecurityEvent:
    return SecurityEvent(type="login_failed", at=at, email_hash=account, ip=ip, user_id=user)


def of_kind(threats: list[Threat], kind: str) -> list[Threat]:
    return [t for t in threats if t.kind == kind]


# ------------------------------------------------------------------ busiest window
def test_busiest_window_counts_events_less_than_a_window_apart() -> None:
    events = [failed(T0), failed(T0 + 10 * MIN), failed(T0 + 59 * MIN), failed(T0 + 60 * MIN)]
    # T0 and T0+60min are exactly one window apart: not in one window
    assert busiest_window(events, HOUR) == 3
    assert busiest_window(events, 2 * HOUR) == 4
    assert busiest_window([], HOUR) == 0


def test_busiest_window_with_a_key_counts_distinct_keys() -> None:
    events = [failed(T0 + i, account=f"a{i % 3}") for i in range(10)]
    assert busiest_window(events, HOUR, key=lambda e: e.email_hash) == 3


# ------------------------------------------------------------------ brute force
def test_five_failures_on_one_account_within_an_hour_are_brute_force() -> None:
    events = [failed(T0 + i * 5 * MIN, user="u1", ip=f"10.0.0.{i}") for i in range(5)]
    [threat] = detect_threats(events)
    assert threat.kind == BRUTE_FORCE
    assert (threat.subject_kind, threat.subject, threat.user_id) == ("account", "acct-a", "u1")
    assert threat.count == 5 and threat.counts["failures"] == 5 and threat.counts["lockouts"] == 0
    assert (threat.first_seen, threat.last_seen) == (T0, T0 + 20 * MIN)
    assert threat.severity == "medium"
    assert len(threat.ips) == 5


def test_four_failures_are_not_brute_force_but_thresholds_are_parameters() -> None:
    events = [failed(T0 + i * MIN) for i in range(4)]
    assert detect_threats(events) == []
    assert of_kind(detect_threats(events, brute_force_threshold=4), BRUTE_FORCE)


def test_failures_spread_over_more_than_the_window_are_not_brute_force() -> None:
    events = [failed(T0 + i * 20 * MIN) for i in range(6)]  # at most 3 within any hour
    assert detect_threats(events) == []
    assert detect_threats(events, window_ms=2 * HOUR)[0].count == 6


def test_a_lockout_alone_is_brute_force_of_high_severity() -> None:
    events = [SecurityEvent(type="account_locked", at=T0, email_hash="acct-b", ip="10.0.0.9")]
    [threat] = detect_threats(events)
    assert threat.kind == BRUTE_FORCE and threat.subject == "acct-b"
    assert threat.severity == "high" and threat.counts["lockouts"] == 1 and threat.count == 0


def test_failures_on_unknown_accounts_count_like_known_ones() -> None:
    events = [failed(T0 + i, account="unknown-hash", user=None) for i in range(5)]
    [threat] = detect_threats(events)
    assert threat.subject == "unknown-hash" and threat.user_id is None


# ------------------------------------------------------------------ credential stuffing
def test_failures_on_five_accounts_from_one_ip_are_credential_stuffing() -> None:
    events = [
        failed(T0 + i * MIN, account=f"acct-{i}", ip="203.0.113.7", user="u" if i == 0 else None) for i in range(5)
    ]
    threats = detect_threats(events)
    [stuffing] = of_kind(threats, CREDENTIAL_STUFFING)
    assert (stuffing.subject_kind, stuffing.subject) == ("ip", "203.0.113.7")
    assert stuffing.count == 5
    assert stuffing.counts == {
        "accountsInWindow": 5,
        "accounts": 5,
        "unknownAccounts": 4,
        "failures": 5,
        "throttled": 0,
    }
    assert not of_kind(threats, BRUTE_FORCE)  # one failure per account


def test_many_failures_on_few_accounts_from_one_ip_are_not_stuffing() -> None:
    events = [failed(T0 + i, account=f"acct-{i % 4}", ip="203.0.113.7") for i in range(40)]
    assert not of_kind(detect_threats(events), CREDENTIAL_STUFFING)


def test_distinct_ips_are_not_stuffing_and_a_throttled_ip_is_high() -> None:
    spread = [failed(T0 + i, account=f"acct-{i}", ip=f"10.0.0.{i}") for i in range(6)]
    assert detect_threats(spread) == []
    one_ip = [failed(T0 + i, account=f"acct-{i}", ip="10.9.9.9") for i in range(5)]
    throttled = SecurityEvent(type="ip_throttled", at=T0 + 10, ip="10.9.9.9", email_hash="x")
    [threat] = detect_threats([*one_ip, throttled])
    assert threat.severity == "high" and threat.counts["throttled"] == 1


# ------------------------------------------------------------------ token reuse
def test_revoked_token_refused_after_logout_is_token_reuse() -> None:
    events = [
        SecurityEvent(type="logout", at=T0, user_id="u1", ip="10.0.0.1"),
        SecurityEvent(type="token_refused", at=T0 + MIN, user_id="u1", ip="10.0.0.1", detail=REVOKED),
        SecurityEvent(type="token_refused", at=T0 + 2 * MIN, user_id="u1", ip="198.51.100.4", detail=REVOKED),
    ]
    [threat] = detect_threats(events)
    assert threat.kind == TOKEN_REUSE_AFTER_LOGOUT
    assert (threat.subject_kind, threat.subject, threat.user_id) == ("user", "u1", "u1")
    assert threat.count == 2 and threat.first_seen == T0 + MIN and threat.last_seen == T0 + 2 * MIN
    assert threat.severity == "high"  # one reuse came from an IP the user did not log out from
    assert threat.ips == ("10.0.0.1", "198.51.100.4")


def test_token_reuse_needs_a_prior_logout_a_revoked_reason_and_a_user() -> None:
    logout = SecurityEvent(type="logout", at=T0, user_id="u1", ip="10.0.0.1")
    before = SecurityEvent(type="token_refused", at=T0 - 1, user_id="u1", detail=REVOKED)
    expired = SecurityEvent(type="token_refused", at=T0 + 1, user_id="u1", detail={"reason": "The token has expired."})
    other_user = SecurityEvent(type="token_refused", at=T0 + 1, user_id="u2", detail=REVOKED)
    anonymous = SecurityEvent(type="token_refused", at=T0 + 1, detail=REVOKED)
    assert detect_threats([logout, before, expired, other_user, anonymous]) == []
    same_ip = SecurityEvent(type="token_refused", at=T0 + 1, user_id="u1", ip="10.0.0.1", detail=REVOKED)
    assert detect_threats([logout, same_ip])[0].severity == "medium"


def test_token_reuse_reads_a_user_id_from_the_detail() -> None:
    events = [
        SecurityEvent(type="logout", at=T0, user_id="u1"),
        SecurityEvent(type="token_refused", at=T0 + 1, detail={**REVOKED, "userId": "u1"}),
    ]
    assert detect_threats(events)[0].subject == "u1"


# ------------------------------------------------------------------ ordering, bounds, arguments
def test_threats_are_ordered_by_severity_then_recency() -> None:
    events = [failed(T0 + i, account="a") for i in range(5)]  # medium, older
    events += [SecurityEvent(type="account_locked", at=T0 - HOUR, email_hash="b")]  # high, oldest
    events += [failed(T0 + HOUR + i, account="c") for i in range(5)]  # medium, newest
    assert [t.subject for t in detect_threats(events)] == ["b", "c", "a"]


def test_since_and_until_bound_the_events_read() -> None:
    events = [failed(T0 + i * MIN) for i in range(5)]
    assert detect_threats(events, since_ms=T0 + MIN) == []
    assert detect_threats(events, until_ms=T0 + 3 * MIN) == []
    assert detect_threats(events, since_ms=T0, until_ms=T0 + 4 * MIN)


def test_non_positive_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        detect_threats([], window_ms=0)
    with pytest.raises(ValueError):
        detect_threats([], brute_force_threshold=0)


# ------------------------------------------------------------------ properties
ACCOUNTS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])
IPS = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3"])
TIMES = st.integers(min_value=T0, max_value=T0 + 6 * HOUR)


@st.composite
def failures(draw: st.DrawFn, times: st.SearchStrategy[int] = TIMES) -> SecurityEvent:
    return failed(draw(times), account=draw(ACCOUNTS), ip=draw(IPS))


@st.composite
def any_event(draw: st.DrawFn, times: st.SearchStrategy[int] = TIMES) -> SecurityEvent:
    kind = draw(st.sampled_from(["login_failed", "account_locked", "ip_throttled", "logout", "token_refused"]))
    return SecurityEvent(
        type=kind,
        at=draw(times),
        user_id=draw(st.none() | st.sampled_from(["u1", "u2"])),
        email_hash=draw(ACCOUNTS),
        ip=draw(IPS),
        detail=REVOKED if kind == "token_refused" else None,
    )


def _counts(threats: list[Threat], kind: str) -> dict[str, int]:
    return {t.subject: t.count for t in threats if t.kind == kind}


@PROPERTY
@given(st.lists(failures(), max_size=40), st.lists(failures(), min_size=1, max_size=20))
def test_adding_failures_never_reduces_a_count_or_removes_a_threat(
    base: list[SecurityEvent], extra: list[SecurityEvent]
) -> None:
    before, after = detect_threats(base), detect_threats(base + extra)
    for kind in (BRUTE_FORCE, CREDENTIAL_STUFFING):
        old, new = _counts(before, kind), _counts(after, kind)
        assert set(old) <= set(new)
        assert all(new[subject] >= count for subject, count in old.items())


@PROPERTY
@given(
    st.lists(any_event(), max_size=40),
    st.lists(any_event(st.integers(min_value=0, max_value=T0 - 1)), max_size=20),
    st.lists(any_event(st.integers(min_value=T0 + 6 * HOUR + 1, max_value=T0 + 48 * HOUR)), max_size=20),
)
def test_events_outside_the_bounds_never_produce_a_threat(
    inside: list[SecurityEvent], earlier: list[SecurityEvent], later: list[SecurityEvent]
) -> None:
    bounds = {"since_ms": T0, "until_ms": T0 + 6 * HOUR}
    assert detect_threats(inside + earlier + later, **bounds) == detect_threats(inside, **bounds)
    assert detect_threats(earlier + later, **bounds) == []


@PROPERTY
@given(
    st.lists(ACCOUNTS, min_size=1, max_size=12),
    st.integers(min_value=MIN, max_value=2 * HOUR),
    st.integers(min_value=0, max_value=HOUR),
)
def test_failures_a_window_or_more_apart_never_make_a_threat(accounts: list[str], window: int, gap: int) -> None:
    # every failure is at least one window after the previous one: no window ever holds two
    events = [failed(T0 + i * (window + gap), account=a, ip="10.0.0.1") for i, a in enumerate(accounts)]
    threats = detect_threats(events, window_ms=window, brute_force_threshold=2, stuffing_threshold=2)
    assert threats == []


@PROPERTY
@given(st.lists(failures(), max_size=40), st.integers(min_value=MIN, max_value=3 * HOUR))
def test_brute_force_count_matches_a_naive_count(events: list[SecurityEvent], window: int) -> None:
    for threat in of_kind(detect_threats(events, window_ms=window), BRUTE_FORCE):
        times = sorted(e.at for e in events if e.email_hash == threat.subject)
        naive = max(sum(1 for t in times if start <= t < start + window) for start in times)
        assert threat.count == naive >= 5
