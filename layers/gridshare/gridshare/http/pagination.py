"""Opaque, signed cursors for `?limit=&cursor=` pagination (DESIGN.md section 6).

A cursor wraps a DynamoDB ExclusiveStartKey. It is signed so that a client cannot forge a key into
another user's partition: a query's partition is always derived from the caller, and the key inside the
cursor must also verify.

The key is GS_CURSOR_SECRET (kernel settings), read when a cursor is made or checked. There is no
default: with a key known to everyone, anyone could sign any cursor. Without it a list that has a next
page, or a request that brings a cursor, is a 500 (ConfigurationError, logged); a cursor signed with
another key (another deployment, a rotated secret, a forgery) is a 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from gridshare.kernel.errors import BadRequest, ConfigurationError, FieldError
from gridshare.kernel.settings import get_settings

DEFAULT_LIMIT = 50
MAX_LIMIT = 200  # the page size of every list route...
MAX_HISTORY_LIMIT = 1000  # ...but a device's readings history (small points: a day of minutes in two pages)


def _secret() -> bytes:
    secret = get_settings().cursor_secret
    value = secret.get_secret_value().strip() if secret is not None else ""
    if not value:
        raise ConfigurationError("GS_CURSOR_SECRET is not set: pagination cursors cannot be signed or checked")
    return value.encode()


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True, default=str).encode()
    mac = hmac.new(_secret(), raw, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    key = _secret()  # outside the try: a missing key is the deployment's fault, not a bad cursor
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mac, raw = blob[:12], blob[12:]
        expected = hmac.new(key, raw, hashlib.sha256).digest()[:12]
        if not hmac.compare_digest(mac, expected):
            raise ValueError("signature")
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("shape")
        return value
    except (ValueError, json.JSONDecodeError):
        raise BadRequest(
            "The cursor is not valid; use the nextCursor of a previous page.",
            errors=[FieldError("cursor", "not a cursor returned by this API")],
        ) from None


def page(items: list[Any], limit: int, next_cursor: str | None, **extra: Any) -> dict[str, Any]:
    """Every list response: `{"data": [...], "pagination": {"limit", "nextCursor"}}` (plus e.g. `meta`)."""
    return {"data": items, "pagination": {"limit": limit, "nextCursor": next_cursor}, **extra}
