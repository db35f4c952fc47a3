"""Identifiers: ULIDs, so ids sort by creation time (DESIGN.md section 6).

A ULID is 128 bits: a 48-bit time in epoch milliseconds, then 80 bits of randomness, written as 26
characters of Crockford's base32 (the spec at github.com/ulid/spec). The time part of `new_id` is the
kernel clock's now (gridshare.kernel.clock), so id ranges stay time ranges when the local stack moves its
clock; ids made in the same millisecond by one process increase (the randomness of the previous one plus
one), as the spec's monotonic generator does.

The codec is the standard library's base32 with Crockford's alphabet swapped in (decision 0032), not a
package: one runtime dependency less, and nothing imported a Lambda does not already have.
"""

from __future__ import annotations

import base64
import os
import re
import threading

from gridshare.kernel.clock import now_ms

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = str.maketrans(_RFC4648, CROCKFORD)
_TO_RFC4648 = str.maketrans(CROCKFORD + CROCKFORD.lower(), _RFC4648 + _RFC4648)
# 26 characters of the alphabet (either case); the first at most 7, since 26 x 5 bits = 130 > 128
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}")
# A ULID's 130 bits are the last 26 of the 32 characters a 20-byte value encodes to
_PAD_BYTES = 4
_PAD_CHARS = 6

MAX_MS = 2**48 - 1
MAX = 2**128 - 1
RANDOMNESS_BYTES = 10


def from_int(value: int) -> str:
    """The ULID string of a 128-bit integer."""
    if not 0 <= value <= MAX:
        raise ValueError("a ULID is a 128-bit unsigned integer")
    return base64.b32encode(value.to_bytes(16 + _PAD_BYTES, "big")).decode()[_PAD_CHARS:].translate(_TO_CROCKFORD)


def from_bytes(value: bytes) -> str:
    """The ULID string of 16 bytes (6 of milliseconds, big-endian, then 10 of randomness)."""
    if len(value) != 16:
        raise ValueError("a ULID is 16 bytes")
    return from_int(int.from_bytes(value, "big"))


def from_parts(ms: int, randomness: bytes) -> str:
    """The ULID of millisecond `ms` (0 to MAX_MS) with these 10 bytes of randomness."""
    return from_bytes(ms.to_bytes(6, "big") + randomness)


def to_int(text: str) -> int:
    """The 128-bit integer of a ULID string (either case); ValueError if `text` is not one."""
    if not isinstance(text, str) or _ULID.fullmatch(text) is None:
        raise ValueError("a ULID is 26 characters of Crockford's base32, the first 0-7")
    raw = base64.b32decode("A" * _PAD_CHARS + text.translate(_TO_RFC4648))
    return int.from_bytes(raw, "big")


def milliseconds(text: str) -> int:
    """The time part of a ULID string, in epoch milliseconds."""
    return to_int(text) >> 80


def is_id(value: str) -> bool:
    """True when ``value`` is a well-formed ULID string."""
    return isinstance(value, str) and _ULID.fullmatch(value) is not None


class _Monotonic:
    """Fresh randomness for a new millisecond; the previous id's plus one within the same millisecond."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = -1
        self._randomness = 0

    def next(self, ms: int) -> str:
        if not 0 <= ms <= MAX_MS:
            raise ValueError("a ULID's time is 0 to 2**48 - 1 milliseconds")
        with self._lock:
            if ms == self._ms:
                if self._randomness == 2 ** (8 * RANDOMNESS_BYTES) - 1:
                    raise ValueError("ULID randomness within one millisecond exhausted")
                self._randomness += 1
            else:
                self._ms = ms
                self._randomness = int.from_bytes(os.urandom(RANDOMNESS_BYTES), "big")
            return from_int(ms << 80 | self._randomness)


_generator = _Monotonic()


def new_id() -> str:
    """A new ULID as its 26-character Crockford base32 string, its time the kernel clock's now."""
    return _generator.next(now_ms())
