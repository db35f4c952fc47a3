"""Time in one place: epoch milliseconds inside, ISO 8601 UTC at the edge."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_iso(ms: int) -> str:
    """Epoch milliseconds -> ISO 8601 UTC with millisecond precision and a Z suffix."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> int:
    """ISO 8601 (with offset or Z) or epoch milliseconds -> epoch milliseconds.

    Raises ValueError with a readable message for anything else.
    """
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 time or epoch milliseconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
