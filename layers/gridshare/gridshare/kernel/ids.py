"""Identifiers: ULIDs, so ids sort by creation time (DESIGN.md section 6).

The time part is the kernel clock's now (gridshare.kernel.clock), so id ranges stay time ranges when the local
stack moves its clock.
"""

from __future__ import annotations

from ulid import ULID

from gridshare.kernel.clock import now_ms


def new_id() -> str:
    """A new ULID as its 26-character Crockford base32 string."""
    return str(ULID.from_timestamp(now_ms()))


def is_id(value: str) -> bool:
    """True when ``value`` is a well-formed ULID string."""
    try:
        ULID.from_str(value)
    except (ValueError, TypeError):
        return False
    return True
