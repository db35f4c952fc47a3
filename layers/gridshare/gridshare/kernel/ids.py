"""Identifiers: ULIDs, so ids sort by creation time (DESIGN.md section 6)."""

from __future__ import annotations

from ulid import ULID


def new_id() -> str:
    """A new ULID as its 26-character Crockford base32 string."""
    return str(ULID())


def is_id(value: str) -> bool:
    """True when ``value`` is a well-formed ULID string."""
    try:
        ULID.from_str(value)
    except (ValueError, TypeError):
        return False
    return True
