"""Time in one place: epoch milliseconds inside, ISO 8601 UTC at the edge.

Every handler reads "now" here, never through `time.time()` or `datetime.now()`, so that time can be
moved without touching the code that reads it:

- The local stack moves it for all of its processes at once (`gridshare clock advance 20m`). Only the
  local stack sets GS_CLOCK_FILE (never a deployment): then now = real time + the offset stored in that
  file (JSON `{"offsetMs": <int>}`, written by gridshare_local.clock). The file is read again only when
  its stat signature changes, so the hot path costs one `os.stat`.
- A unit test fixes or moves time without sleeping: `with clock.frozen(at) as frozen: frozen.advance(60)`.
  The injected source is process-wide (every thread sees it) and beats the offset file.

Durations (timeouts, retry waits, cache ages) are not "now": they stay on `time.monotonic()`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

CLOCK_FILE_ENV = "GS_CLOCK_FILE"
OFFSET_KEY = "offsetMs"

_source: Callable[[], int] | None = None
# (path, stat signature, offset ms) of the last read of the offset file
_cached: tuple[str, tuple[int, int, int], int] | None = None
_lock = threading.Lock()


def now_ms() -> int:
    """Now, in epoch milliseconds (UTC)."""
    source = _source
    if source is not None:
        return source()
    return time.time_ns() // 1_000_000 + offset_ms()


def now_s() -> float:
    """Now, in epoch seconds (the unit of `time.time()`, JWT claims and DynamoDB TTLs)."""
    return now_ms() / 1000


def now() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.fromtimestamp(now_ms() / 1000, tz=UTC)


def offset_ms() -> int:
    """How far the local stack has moved its clock ahead of real time (0 when GS_CLOCK_FILE is unset)."""
    global _cached
    path = os.environ.get(CLOCK_FILE_ENV)
    if not path:
        return 0
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0
    signature = (st.st_mtime_ns, st.st_ino, st.st_size)
    cached = _cached
    if cached is not None and cached[0] == path and cached[1] == signature:
        return cached[2]
    with _lock:
        try:
            with open(path, encoding="utf-8") as handle:
                offset = int(json.load(handle)[OFFSET_KEY])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"{CLOCK_FILE_ENV}={path} is not a readable clock offset file: {exc}") from exc
        _cached = (path, signature, offset)
    return offset


def to_iso(ms: int) -> str:
    """Epoch milliseconds -> ISO 8601 UTC with millisecond precision and a Z suffix."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


TIME_PATTERN = (
    r"^(-?[0-9]{1,16}"  # epoch milliseconds
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}"  # or an ISO 8601 date, optionally with a time and an offset
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?)?)$"
)
"""What a time query parameter may look like (the document's pattern; `parse_time` then checks the date)."""


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


# ------------------------------------------------------------------------------------------------ tests
def set_source(source: Callable[[], int] | None) -> None:
    """Make `now_ms()` return `source()` (epoch ms) for every thread; None restores the real clock."""
    global _source
    _source = source


class FrozenClock:
    """A clock that moves only when told to: `advance(seconds)` or `set(at)`."""

    def __init__(self, at_ms: int) -> None:
        self.ms = at_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float = 0, *, ms: int = 0) -> int:
        if seconds < 0 or ms < 0:
            raise ValueError("time only moves forward")
        self.ms += round(seconds * 1000) + ms
        return self.ms

    def set(self, at: int | datetime | str) -> int:
        self.ms = _as_ms(at)
        return self.ms


def _as_ms(at: int | datetime | str) -> int:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("a frozen time must be timezone-aware")
        return int(at.timestamp() * 1000)
    if isinstance(at, str):
        return parse_time(at)
    return int(at)


@contextmanager
def frozen(at: int | datetime | str | None = None) -> Iterator[FrozenClock]:
    """Fix now at `at` (epoch ms, aware datetime or ISO 8601; default: the current now) for the block.

    >>> with frozen("2026-01-01T00:00:00Z") as clock:
    ...     _ = clock.advance(90)
    ...     to_iso(now_ms())
    '2026-01-01T00:01:30.000Z'
    """
    previous = _source
    fixed = FrozenClock(now_ms() if at is None else _as_ms(at))
    set_source(fixed)
    try:
        yield fixed
    finally:
        set_source(previous)
