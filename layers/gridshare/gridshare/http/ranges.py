"""Time ranges of list and history routes: the rules in one place.

A route's query model derives from `RangeQuery` (gridshare.http.models) and its view asks it for the range:
`window()` or `bounds()`, from `RangeRules` here, which the pydantic models and the queries parsed without
pydantic (gridshare.http.lean_query) share. The rules:

- Each time (`from`, `to`) is ISO 8601 or epoch milliseconds (UTC), and sane: not before
  2000-01-01T00:00:00Z (`EARLIEST`), not more than 24 h after now (`FUTURE_SLACK_MS`, on the kernel clock).
  Checked while the query is parsed: 422 naming the parameter.
- `from` is before `to` (`to` is exclusive), and `to - from` is at most the route's span
  (`max_span_days`): 422 naming `from` otherwise.
- A closed range (`window()`: readings, security events) has defaults: `to` now, `from` the route's
  default span before `to`. An open range (`bounds()`: wallet transactions, admin metrics) may leave
  either side open; its span is checked when both are given (the listing itself is paged newest first,
  so leaving `from` out costs no more than a first page).

The maxima are declared on the query models (class variables, and in the parameters' descriptions, so
the OpenAPI document shows them); docs/api.md lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from gridshare.kernel import clock, errors

DAY_MS = 86_400_000
EARLIEST = "2000-01-01T00:00:00Z"
EARLIEST_MS = 946_684_800_000
FUTURE_SLACK_MS = DAY_MS


def check_time(value: str, *, now_ms: int | None = None) -> int:
    """A query time (ISO 8601 or epoch ms) in epoch ms, if sane; ValueError with a readable message if not."""
    at = clock.parse_time(value)
    if at < EARLIEST_MS:
        raise ValueError(f"must not be before {EARLIEST}")
    now = clock.now_ms() if now_ms is None else now_ms
    if at > now + FUTURE_SLACK_MS:
        raise ValueError("must not be more than 24 hours after now")
    return at


@dataclass(frozen=True)
class Window:
    """[start, end) in epoch milliseconds."""

    start: int
    end: int


def _days(n: int) -> str:
    return f"{n} day" + ("" if n == 1 else "s")


def _invalid(field: str, message: str) -> errors.InvalidInput:
    return errors.InvalidInput(
        f"The query has invalid parameters: {message}.", errors=[errors.FieldError(field, message)]
    )


def check_span(start: int, end: int, max_span_days: int | None, *, what: str = "") -> None:
    """`start` before `end`, at most `max_span_days` apart (None: any span); 422 naming `from` if not."""
    if start >= end:
        raise _invalid("from", "'from' must be before 'to'")
    if max_span_days is not None and end - start > max_span_days * DAY_MS:
        raise _invalid("from", f"at most {_days(max_span_days)} before 'to'{what}")


def window(
    from_ms: int | None,
    to_ms: int | None,
    *,
    default_span_days: int,
    max_span_days: int | None,
    now_ms: int | None = None,
    what: str = "",
) -> Window:
    """A closed range: `to` defaults to now (included), `from` to `default_span_days` before `to`."""
    end = to_ms if to_ms is not None else (clock.now_ms() if now_ms is None else now_ms) + 1
    start = from_ms if from_ms is not None else end - default_span_days * DAY_MS
    check_span(start, end, max_span_days, what=what)
    return Window(start, end)


def bounds(from_ms: int | None, to_ms: int | None, *, max_span_days: int | None) -> tuple[int | None, int | None]:
    """An open range: either side may be None; when both are given, checked like a closed one."""
    if from_ms is not None and to_ms is not None:
        check_span(from_ms, to_ms, max_span_days)
    return from_ms, to_ms


# The longest span a rollup read may cover, per resolution (sites and communities energy, grid history).
ROLLUP_MAX_DAYS: dict[str, int] = {"15m": 31, "1h": 92, "1d": 366}


class RangeRules:
    """A parsed query's range: `from_`/`to` (ISO 8601 or epoch ms strings, or None) and the route's span rules
    (class variables). Mixed into gridshare.http.models.RangeQuery and into the queries
    gridshare.http.lean_query parses, so both answer `window()` and `bounds()` with this one code."""

    DEFAULT_SPAN_DAYS: ClassVar[int] = 1  # closed ranges: `from` defaults to this many days before `to`
    MAX_SPAN_DAYS: ClassVar[int | None] = None  # None: any span

    if TYPE_CHECKING:
        from_: str | None
        to: str | None

    @property
    def from_ms(self) -> int | None:
        return clock.parse_time(self.from_) if self.from_ is not None else None

    @property
    def to_ms(self) -> int | None:
        return clock.parse_time(self.to) if self.to is not None else None

    def max_span_days(self) -> int | None:
        return self.MAX_SPAN_DAYS

    def span_rule(self) -> str:
        """How the span is described in a 422 (e.g. which resolution it is for)."""
        return ""

    def window(self, now_ms: int | None = None) -> Window:
        return window(
            self.from_ms,
            self.to_ms,
            default_span_days=self.DEFAULT_SPAN_DAYS,
            max_span_days=self.max_span_days(),
            now_ms=now_ms,
            what=self.span_rule(),
        )

    def bounds(self) -> tuple[int | None, int | None]:
        return bounds(self.from_ms, self.to_ms, max_span_days=self.max_span_days())


class ResolutionRangeRules(RangeRules):
    """A closed range whose longest span depends on the query's `resolution`: MAX_DAYS maps each resolution
    to its maximum in days."""

    MAX_DAYS: ClassVar[Mapping[str, int]] = ROLLUP_MAX_DAYS

    def _resolution(self) -> str:
        """The `resolution` field (declared by each query, so its parameters keep their order)."""
        return str(getattr(self, "resolution"))  # noqa: B009

    def max_span_days(self) -> int:
        return self.MAX_DAYS[self._resolution()]

    def span_rule(self) -> str:
        return f" at resolution {self._resolution()}"
