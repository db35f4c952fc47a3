"""Failure counters and lockouts in DynamoDB, shared by every Lambda container.

A key (an account's email hash, an IP, a user's 2FA, a reset code's email) counts failures from its first
failure in a sliding window; at the threshold it is locked for a while. Keys are derived the same way
whether the account exists or not, so lockouts never reveal which emails are registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pynamodb.exceptions import DoesNotExist, UpdateError

from gridshare.identity.models import RateLimitModel
from gridshare.kernel import errors
from gridshare.kernel.clock import now as clock_now
from gridshare.kernel.clock import now_s
from gridshare.kernel.settings import get_settings


@dataclass(frozen=True)
class Limit:
    threshold: int
    window_s: int
    lock_s: int


def account_limit() -> Limit:
    s = get_settings()
    return Limit(s.lockout_threshold, s.lockout_window_minutes * 60, s.lockout_minutes * 60)


def ip_limit() -> Limit:
    s = get_settings()
    return Limit(s.ip_failure_limit, s.lockout_window_minutes * 60, s.lockout_minutes * 60)


def code_limit() -> Limit:
    """2FA and reset codes: as strict as passwords (a 6-digit code is easier to guess than a password)."""
    return account_limit()


LOCKED_MESSAGE = "Too many failed attempts. Try again later."


def locked_until(key: str) -> int:
    try:
        item = RateLimitModel.get(key, consistent_read=True)
    except DoesNotExist:
        return 0
    return int(item.locked_until or 0)


def check(key: str) -> None:
    """Raise TooManyRequests while the key is locked."""
    until = locked_until(key)
    now = now_s()
    if until > now:
        raise errors.TooManyRequests(LOCKED_MESSAGE, retry_after_s=int(until - now) + 1)


def fail(key: str, limit: Limit) -> bool:
    """Count one failure; True when this failure locked the key."""
    now = int(now_s())
    expiry = clock_now() + timedelta(seconds=limit.window_s + limit.lock_s)
    item = RateLimitModel(key=key)
    try:
        item.update(
            actions=[RateLimitModel.failures.add(1), RateLimitModel.expires_at.set(expiry)],
            condition=RateLimitModel.first_failure_at >= now - limit.window_s,
        )
    except UpdateError:  # no item, or the window has passed: start a new window
        item = RateLimitModel(
            key=key, failures=1, first_failure_at=now, locked_until=locked_until(key), expires_at=expiry
        )
        item.save()
    if int(item.failures) >= limit.threshold:
        RateLimitModel(key=key).update(
            actions=[
                RateLimitModel.locked_until.set(now + limit.lock_s),
                RateLimitModel.failures.set(0),
                RateLimitModel.first_failure_at.set(now),
            ]
        )
        return True
    return False


def reset(key: str) -> None:
    RateLimitModel(key=key).delete()


def is_locked(key: str) -> bool:
    return locked_until(key) > now_s()
