"""Threats derived from the security event log: pure Python, no AWS imports.

The security service reads recent events (gridshare.identity.security) and hands them here as
:class:`SecurityEvent` records; :func:`detect_threats` answers what an admin should look at:

- ``brute_force``: at least ``brute_force_threshold`` failed logins on one account (keyed by the hash of
  the email, so unknown accounts count too) within ``window_ms``, or any lockout of that account.
- ``credential_stuffing``: failed logins for at least ``stuffing_threshold`` distinct accounts from one IP
  within ``window_ms`` (one password tried across many accounts, or a leaked list replayed).
- ``token_reuse_after_logout``: a token refused as revoked for a user after that user logged out (a
  stolen or cached token still being replayed).

Counting "within a window" means the busiest sliding window: the most events whose times all lie less
than ``window_ms`` apart. That count only grows when events are added, and events spread further apart
than the window never add up to a threat.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BRUTE_FORCE",
    "CREDENTIAL_STUFFING",
    "DEFAULT_BRUTE_FORCE_THRESHOLD",
    "DEFAULT_STUFFING_THRESHOLD",
    "DEFAULT_WINDOW_MS",
    "RELEVANT_TYPES",
    "SEVERITY_ORDER",
    "TOKEN_REUSE_AFTER_LOGOUT",
    "SecurityEvent",
    "Threat",
    "busiest_window",
    "detect_threats",
]

BRUTE_FORCE = "brute_force"
CREDENTIAL_STUFFING = "credential_stuffing"
TOKEN_REUSE_AFTER_LOGOUT = "token_reuse_after_logout"

DEFAULT_BRUTE_FORCE_THRESHOLD = 5
DEFAULT_STUFFING_THRESHOLD = 5
DEFAULT_WINDOW_MS = 3_600_000  # 1 h

# The event types the detectors read; the service needs to fetch only these.
RELEVANT_TYPES = ("login_failed", "account_locked", "ip_throttled", "logout", "token_refused")
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
REVOKED_MARKER = "revoked"  # token_refused detail.reason "The token has been revoked."


@dataclass(frozen=True)
class SecurityEvent:
    """The part of a security log entry the detectors need (times in epoch ms)."""

    type: str
    at: int
    user_id: str | None = None
    email_hash: str | None = None
    ip: str | None = None
    detail: Mapping[str, Any] | None = None

    @property
    def subject_user(self) -> str | None:
        """The user an event is about: its user_id, else a userId the recorder put in the detail."""
        if self.user_id:
            return self.user_id
        value = (self.detail or {}).get("userId")
        return str(value) if value else None


@dataclass(frozen=True)
class Threat:
    """One derived threat. ``count`` is the headline number (see ``counts`` for the rest)."""

    kind: str
    severity: str  # high | medium | low
    subject_kind: str  # account (email hash) | ip | user
    subject: str
    count: int
    first_seen: int
    last_seen: int
    counts: Mapping[str, int] = field(default_factory=dict)
    user_id: str | None = None  # the account's user, when the failures were on a known account
    ips: tuple[str, ...] = ()


# ------------------------------------------------------------------ windows
def busiest_window(
    events: Sequence[SecurityEvent], window_ms: int, key: Callable[[SecurityEvent], Any] | None = None
) -> int:
    """The most events (or, with ``key``, the most distinct keys) within any window of ``window_ms``.

    Two-pointer sweep over events sorted by time: O(n log n). Events exactly ``window_ms`` apart are
    not in one window.
    """
    if window_ms <= 0 or not events:
        return 0
    ordered = sorted(events, key=lambda e: e.at)
    seen: Counter[Any] = Counter()
    best = 0
    start = 0
    for end, event in enumerate(ordered):
        seen[key(event) if key else end] += 1
        while event.at - ordered[start].at >= window_ms:
            old = key(ordered[start]) if key else start
            seen[old] -= 1
            if seen[old] == 0:
                del seen[old]
            start += 1
        best = max(best, len(seen))
    return best


# ------------------------------------------------------------------ detectors
def _brute_force(events: Sequence[SecurityEvent], threshold: int, window_ms: int) -> list[Threat]:
    failures: dict[str, list[SecurityEvent]] = defaultdict(list)
    locks: dict[str, list[SecurityEvent]] = defaultdict(list)
    for event in events:
        if not event.email_hash:
            continue
        if event.type == "login_failed":
            failures[event.email_hash].append(event)
        elif event.type == "account_locked":
            locks[event.email_hash].append(event)
    threats = []
    for account in sorted(set(failures) | set(locks)):
        failed, locked = failures.get(account, []), locks.get(account, [])
        peak = busiest_window(failed, window_ms)
        if peak < threshold and not locked:
            continue
        involved = failed + locked
        users = sorted({e.user_id for e in involved if e.user_id})
        threats.append(
            Threat(
                kind=BRUTE_FORCE,
                severity="high" if locked or peak >= 2 * threshold else "medium",
                subject_kind="account",
                subject=account,
                count=peak,
                first_seen=min(e.at for e in involved),
                last_seen=max(e.at for e in involved),
                counts={"failuresInWindow": peak, "failures": len(failed), "lockouts": len(locked)},
                user_id=users[0] if users else None,
                ips=tuple(sorted({e.ip for e in involved if e.ip})),
            )
        )
    return threats


def _account_key(event: SecurityEvent) -> str:
    return event.email_hash or f"user:{event.user_id}"


def _credential_stuffing(events: Sequence[SecurityEvent], threshold: int, window_ms: int) -> list[Threat]:
    failures: dict[str, list[SecurityEvent]] = defaultdict(list)
    throttled: Counter[str] = Counter()
    for event in events:
        if not event.ip:
            continue
        if event.type == "login_failed" and (event.email_hash or event.user_id):
            failures[event.ip].append(event)
        elif event.type == "ip_throttled":
            throttled[event.ip] += 1
    threats = []
    for ip in sorted(failures):
        failed = failures[ip]
        peak = busiest_window(failed, window_ms, key=_account_key)
        if peak < threshold:
            continue
        unknown = {_account_key(e) for e in failed if not e.user_id}
        threats.append(
            Threat(
                kind=CREDENTIAL_STUFFING,
                severity="high" if throttled[ip] or peak >= 2 * threshold else "medium",
                subject_kind="ip",
                subject=ip,
                count=peak,
                first_seen=min(e.at for e in failed),
                last_seen=max(e.at for e in failed),
                counts={
                    "accountsInWindow": peak,
                    "accounts": len({_account_key(e) for e in failed}),
                    "unknownAccounts": len(unknown),
                    "failures": len(failed),
                    "throttled": throttled[ip],
                },
                ips=(ip,),
            )
        )
    return threats


def _is_revoked_refusal(event: SecurityEvent) -> bool:
    reason = str((event.detail or {}).get("reason") or "")
    return event.type == "token_refused" and REVOKED_MARKER in reason.lower()


def _token_reuse(events: Sequence[SecurityEvent]) -> list[Threat]:
    logouts: dict[str, list[SecurityEvent]] = defaultdict(list)
    refusals: dict[str, list[SecurityEvent]] = defaultdict(list)
    for event in events:
        user = event.subject_user
        if not user:
            continue
        if event.type == "logout":
            logouts[user].append(event)
        elif _is_revoked_refusal(event):
            refusals[user].append(event)
    threats = []
    for user in sorted(set(logouts) & set(refusals)):
        first_logout = min(e.at for e in logouts[user])
        reused = [e for e in refusals[user] if e.at >= first_logout]
        if not reused:
            continue
        logout_ips = {e.ip for e in logouts[user] if e.ip}
        reuse_ips = {e.ip for e in reused if e.ip}
        threats.append(
            Threat(
                kind=TOKEN_REUSE_AFTER_LOGOUT,
                # A client retrying with its old token from where it logged out is likely a bug; from
                # elsewhere, the token was probably copied.
                severity="high" if reuse_ips - logout_ips else "medium",
                subject_kind="user",
                subject=user,
                count=len(reused),
                first_seen=min(e.at for e in reused),
                last_seen=max(e.at for e in reused),
                counts={"refused": len(reused), "logouts": len(logouts[user]), "ips": len(reuse_ips)},
                user_id=user,
                ips=tuple(sorted(reuse_ips)),
            )
        )
    return threats


def detect_threats(
    events: Iterable[SecurityEvent],
    *,
    window_ms: int = DEFAULT_WINDOW_MS,
    brute_force_threshold: int = DEFAULT_BRUTE_FORCE_THRESHOLD,
    stuffing_threshold: int = DEFAULT_STUFFING_THRESHOLD,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[Threat]:
    """Every threat in ``events``, most severe first, then most recent first.

    Events before ``since_ms`` or after ``until_ms`` (both inclusive bounds) are ignored.
    """
    if window_ms <= 0 or brute_force_threshold < 1 or stuffing_threshold < 1:
        raise ValueError("window and thresholds must be positive")
    selected = [e for e in events if (since_ms is None or e.at >= since_ms) and (until_ms is None or e.at <= until_ms)]
    threats = (
        _brute_force(selected, brute_force_threshold, window_ms)
        + _credential_stuffing(selected, stuffing_threshold, window_ms)
        + _token_reuse(selected)
    )
    return sorted(threats, key=lambda t: (SEVERITY_ORDER.get(t.severity, 9), -t.last_seen, t.kind, t.subject))
