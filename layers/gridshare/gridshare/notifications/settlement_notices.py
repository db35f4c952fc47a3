"""Settlement notices: what the notifier tells a party of a settled run, and the admins of a failed one (pure;
docs/notifications.md, "Settlement").

The settlement context publishes (docs/events.md, `gridshare.settlement`):
- `SettlementCompleted` `{runId, intervals: [ISO starts], parties: [user ids], part, parts}`: every party of
  the chunk gets a `settlement.completed` notice: an inbox entry, an email (by their preferences, as an alert
  of severity `info`) and a WebSocket message on their `settlement` topic. A run with no interval settled
  nothing: no notice.
- `SettlementFailed` `{runId, error, cause}`: every admin gets a `settlement.failed` notice (severity
  `critical`: it ignores quiet hours, as a gas leak does), on the same channels.

A notice is identified by (run id, kind): the inbox entry's id and each delivery's claim derive from it, so a
redelivered event or a repeated chunk writes and sends nothing twice. The data a WebSocket client receives is
`Notice.data()`: `{runId, intervals, statementDate}` or `{runId, error, cause}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SOURCE = "gridshare.settlement"
COMPLETED, FAILED = "SettlementCompleted", "SettlementFailed"
EVENTS: tuple[str, ...] = (COMPLETED, FAILED)
COMPLETED_TYPE, FAILED_TYPE = "settlement.completed", "settlement.failed"
TYPES: tuple[str, ...] = (COMPLETED_TYPE, FAILED_TYPE)
CHANNELS: tuple[str, ...] = ("email", "websocket")  # no SMS or push: a statement is not worth an interruption
ADMIN_ROLE = "admin"
MAX_PARTIES = 500  # per event (the publisher's chunk): more is off the contract
MAX_CAUSE = 1_000  # characters of a failure's cause kept in a notice


class NoticeError(ValueError):
    """A settlement event that does not follow the contract (a retry cannot fix it)."""


@dataclass(frozen=True)
class Notice:
    kind: str  # settlement.completed | settlement.failed
    run_id: str
    intervals: tuple[str, ...] = ()  # ISO-8601 UTC starts (completed)
    parties: tuple[str, ...] = ()  # the recipients of a completed run's chunk
    statement_date: str | None = None  # the UTC day the run's postings are on the statements (completed)
    error: str | None = None  # (failed)
    cause: str | None = None  # (failed)

    @property
    def severity(self) -> str:
        return "info" if self.kind == COMPLETED_TYPE else "critical"

    @property
    def occurrence(self) -> str:
        """Which notice of the run: one per kind, so (run id, kind) names it."""
        return self.kind

    def data(self) -> dict[str, Any]:
        """The notice's public JSON: the WebSocket message's `data`, carried by each delivery."""
        if self.kind == COMPLETED_TYPE:
            return {"runId": self.run_id, "intervals": list(self.intervals), "statementDate": self.statement_date}
        return {"runId": self.run_id, "error": self.error, "cause": self.cause}


def _day(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).date().isoformat()


def parse(detail_type: str, detail: dict[str, Any], at_ms: int) -> Notice:
    """The notice of a settlement event received at `at_ms` (its statement day: the postings were stamped moments
    before); raises NoticeError for an event off the contract."""
    run_id = detail.get("runId")
    if not isinstance(run_id, str) or not run_id:
        raise NoticeError("runId missing")
    if detail_type == COMPLETED:
        intervals, parties = detail.get("intervals"), detail.get("parties")
        if not isinstance(intervals, list) or not all(isinstance(i, str) and i for i in intervals):
            raise NoticeError("intervals: a list of ISO starts")
        if not isinstance(parties, list) or not all(isinstance(p, str) and p for p in parties):
            raise NoticeError("parties: a list of user ids")
        if len(parties) > MAX_PARTIES:
            raise NoticeError(f"at most {MAX_PARTIES} parties per event")
        return Notice(
            COMPLETED_TYPE,
            run_id,
            intervals=tuple(sorted(intervals)),
            parties=tuple(dict.fromkeys(parties)),
            statement_date=_day(at_ms),
        )
    if detail_type == FAILED:
        return Notice(
            FAILED_TYPE,
            run_id,
            error=str(detail.get("error") or "Unknown"),
            cause=str(detail.get("cause") or "")[:MAX_CAUSE],
        )
    raise NoticeError(f"unexpected detail type {detail_type}")


def _span(intervals: tuple[str, ...]) -> str:
    if not intervals:
        return "no interval"
    if len(intervals) == 1:
        return f"the interval starting {intervals[0]}"
    return f"{len(intervals)} intervals from {intervals[0]} to {intervals[-1]} (starts)"


def title(notice: Notice) -> str:
    if notice.kind == COMPLETED_TYPE:
        count = len(notice.intervals)
        return f"Settlement completed: {count} interval{'s' if count != 1 else ''}"
    return f"Settlement run failed: {notice.error}"


def message(notice: Notice) -> str:
    """The inbox entry's text (and the email's first line)."""
    if notice.kind == COMPLETED_TYPE:
        return (
            f"Run {notice.run_id} settled {_span(notice.intervals)}. "
            f"Your statement of {notice.statement_date} lists what it moved."
        )
    return f"Run {notice.run_id} failed ({notice.error}): {notice.cause or 'no cause given'}"


def email_subject(notice: Notice) -> str:
    return f"[{notice.severity.upper()}] {title(notice)}"


def email_text(notice: Notice) -> str:
    lines = [message(notice)]
    if notice.kind == COMPLETED_TYPE:
        lines.append(f"Statement: GET /v1/statements?date={notice.statement_date}")
        lines.append(f"Run: {notice.run_id}")
    else:
        lines.append(f"Run: GET /v1/settlements/{notice.run_id}")
    return "\n".join(lines)


def notice_from_delivery(delivery: dict[str, Any]) -> Notice:
    """The notice a delivery message carries (`{"type", "settlement": Notice.data()}`), back."""
    kind, data = str(delivery["type"]), dict(delivery["settlement"])
    if kind not in TYPES:
        raise NoticeError(f"not a settlement notice: {kind}")
    if kind == COMPLETED_TYPE:
        return Notice(
            kind,
            str(data["runId"]),
            intervals=tuple(str(i) for i in data.get("intervals") or ()),
            statement_date=data.get("statementDate"),
        )
    return Notice(kind, str(data["runId"]), error=data.get("error"), cause=data.get("cause"))
