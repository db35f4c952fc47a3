"""Telemetry domain: the stored rollups of decision 0016 (hour and day items) and what the job rolls.

Pure Python, no AWS imports. The rollup job (gridshare.telemetry.rollup_job) recomputes a device's closed
hours from raw readings with `reroll.fold` and stores, per device and hour, **one item holding the hour's
four 15-minute buckets** (the hour's totals are their sum, `coarsen`), and per device and closed day one
item with the day's totals. This module holds their encoding (compact JSON of exact decimals: a meter's
hour item stays well under DynamoDB's 1 KB write unit) and the rules that say which hours are final:

- An hour's buckets depend on the readings of the hour, the reading before it (the counter baseline)
  and the first reading after it (whose energy spreads back over the gap, up to the split cap). So an
  hour is final once a reading at or after its end is stored (`final_end`), or once the device has been
  silent longer than the split cap (no future reading can spread back into it).
- The job also waits `ROLL_LAG_MS` after an hour closes by the clock. Ingest marks a reading that lands in
  a hour the clock has closed, or behind the device's newest reading, as dirty (`is_late`); the job
  re-rolls the span such a reading changes (`reroll.affected_span`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec

from gridshare.telemetry.reroll import FINEST_MS, BucketTotals

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
ROLL_LAG_MS = HOUR_MS  # the job stores an hour one hour after it closed by the clock (and once it is final)


class _Stored(msgspec.Struct, array_like=True):
    """A bucket as stored: [n, {gauge: exact sum}, {gauge: count}, {counter: Wh}]."""

    n: int
    sums: dict[str, Decimal]
    counts: dict[str, int]
    energy: dict[str, int]


_encode = msgspec.json.Encoder(decimal_format="string").encode
_decode_hour = msgspec.json.Decoder(dict[int, _Stored]).decode
_decode_day = msgspec.json.Decoder(_Stored).decode


def floor_hour(ts: int) -> int:
    return ts - ts % HOUR_MS


def floor_day(ts: int) -> int:
    return ts - ts % DAY_MS


def _stored(totals: BucketTotals) -> _Stored:
    return _Stored(totals.n, dict(totals.sums), dict(totals.counts), dict(totals.energy))


def _totals(stored: _Stored) -> BucketTotals:
    return BucketTotals(stored.n, dict(stored.sums), dict(stored.counts), dict(stored.energy))


def encode_hour(hour: int, fine: Mapping[int, BucketTotals]) -> str:
    """The hour item's text: its 15-minute buckets keyed by their index in the hour (0-3)."""
    out: dict[int, _Stored] = {}
    for start, totals in sorted(fine.items()):
        if not hour <= start < hour + HOUR_MS:
            raise ValueError(f"bucket {start} is not in the hour {hour}")
        out[(start - hour) // FINEST_MS] = _stored(totals)
    return _encode(out).decode()


def decode_hour(hour: int, text: str) -> dict[int, BucketTotals]:
    """15-minute bucket start -> totals, from an hour item's text."""
    return {hour + index * FINEST_MS: _totals(stored) for index, stored in _decode_hour(text).items()}


def encode_day(totals: BucketTotals) -> str:
    return _encode(_stored(totals)).decode()


def decode_day(text: str) -> BucketTotals:
    return _totals(_decode_day(text))


def total(buckets: Iterable[BucketTotals]) -> BucketTotals:
    """The sum of buckets (exact: decimal sums, integer counts and energy)."""
    out = BucketTotals()
    for bucket in buckets:
        out.add(bucket)
    return out


def is_empty(totals: BucketTotals) -> bool:
    return totals.n == 0 and not any(totals.energy.values())


def final_end(newest_ts: int, now: int, split_cap_ms: int, max_future_ms: int) -> int:
    """The end (exclusive) of the hours of a device the job may store at `now`, given its newest reading.

    An hour is final when a reading at or after its end is stored: any later reading spreads its energy
    over the gap after its own predecessor, which is then at or after that end. When the device has been
    silent longer than the split cap (its next reading, at most `max_future_ms` ahead of the clock, will
    not spread back), the rest of its newest reading's day is final too. Never past `now` less the lag.
    """
    closed = floor_hour(now) - ROLL_LAG_MS
    if now + max_future_ms - newest_ts > split_cap_ms:
        return min(closed, floor_day(newest_ts) + DAY_MS)
    return min(closed, floor_hour(newest_ts))


def is_late(ts: int, now: int, previous_ts: int | None) -> bool:
    """Whether ingest marks a stored reading dirty: it is in an hour the clock has closed, or it is not
    the device's newest reading (it changes its neighbours' spread, maybe in an hour already stored)."""
    return ts < floor_hour(now) or (previous_ts is not None and ts <= previous_ts)


def hours_of_span(first: int, last: int) -> list[int]:
    """The hour starts that 15-minute buckets [first, last] (starts) lie in."""
    return list(range(floor_hour(first), floor_hour(last) + 1, HOUR_MS))


def runs(hours: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, distinct hour starts grouped into contiguous spans [start, end)."""
    out: list[tuple[int, int]] = []
    for hour in sorted(set(hours)):
        if out and out[-1][1] == hour:
            out[-1] = (out[-1][0], hour + HOUR_MS)
        else:
            out.append((hour, hour + HOUR_MS))
    return out


def days_closed_by(hours: Iterable[int], end: int) -> list[int]:
    """The day starts of the given hours whose day ends at or before `end` (the job may store them)."""
    return sorted({floor_day(hour) for hour in hours if floor_day(hour) + DAY_MS <= end})
