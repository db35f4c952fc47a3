"""Opaque, signed cursors for `?limit=&cursor=` pagination (DESIGN.md section 6).

A cursor wraps a DynamoDB ExclusiveStartKey. It is signed so that a client cannot forge a key into
another user's partition: a query's partition is always derived from the caller, and the key inside the
cursor must also verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from gridshare.kernel.errors import BadRequest, FieldError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _secret() -> bytes:
    return os.environ.get("GS_CURSOR_SECRET", "gridshare-cursor").encode()


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True, default=str).encode()
    mac = hmac.new(_secret(), raw, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mac, raw = blob[:12], blob[12:]
        expected = hmac.new(_secret(), raw, hashlib.sha256).digest()[:12]
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
