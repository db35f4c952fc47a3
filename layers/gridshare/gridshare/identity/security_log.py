"""Recording security events (append-only). Reading, the dashboard and threats live in security.py."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from gridshare.identity.models import SecurityEventModel
from gridshare.kernel.clock import now_ms
from gridshare.kernel.ids import new_id
from gridshare.kernel.roles import ClientInfo

logger = logging.getLogger("gridshare.security")

EVENT_TYPES = (
    "login_succeeded",
    "login_failed",
    "account_locked",
    "ip_throttled",
    "login_2fa_challenged",
    "login_2fa_failed",
    "2fa_enabled",
    "2fa_disabled",
    "2fa_setup_started",
    "password_reset_requested",
    "password_reset_completed",
    "password_reset_failed",
    "logout",
    "token_refreshed",
    "refresh_refused",
    "token_refused",
    "role_changed",
    "user_disabled",
    "user_enabled",
    "email_verified",
    "registered",
)


def email_hash(email: str) -> str:
    """Events about unknown accounts are keyed by a hash of the normalized email, never the address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def record(
    event_type: str,
    *,
    client: ClientInfo | None = None,
    user_id: str | None = None,
    email: str | None = None,
    detail: dict[str, Any] | None = None,
) -> str:
    """Append one event. A failure to record is logged, never raised: it must not break a login."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown security event type {event_type}")
    at = now_ms()
    event_id = new_id()
    try:
        SecurityEventModel(
            day=datetime.fromtimestamp(at / 1000, tz=UTC).strftime("%Y-%m-%d"),
            id=event_id,
            type=event_type,
            at=at,
            user_id=user_id,
            email_hash=email_hash(email) if email else None,
            ip=(client.ip if client else None),
            user_agent=(client.user_agent[:256] if client and client.user_agent else None),
            detail=detail or None,
        ).save()
    except Exception:
        logger.exception("could not record security event %s", event_type)
    return event_id
