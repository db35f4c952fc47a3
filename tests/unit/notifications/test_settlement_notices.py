"""Settlement notices (gridshare.notifications.settlement_notices): the contract of docs/events.md in, the notice's
texts and its WebSocket data out."""

from __future__ import annotations

from typing import Any

import pytest

from gridshare.kernel.clock import parse_time
from gridshare.notifications import settlement_notices as S

AT = parse_time("2026-12-03T23:59:00Z")
INTERVALS = ["2026-12-03T10:15:00.000Z", "2026-12-03T10:00:00.000Z"]


def completed(**fields: Any) -> dict[str, Any]:
    return {"runId": "stl-1-2", "intervals": INTERVALS, "parties": ["u1", "u2", "u1"], "part": 1, "parts": 1, **fields}


def test_a_completed_run_names_its_parties_intervals_and_statement_day() -> None:
    notice = S.parse("SettlementCompleted", completed(), AT)
    assert notice.kind == "settlement.completed" and notice.severity == "info"
    assert notice.parties == ("u1", "u2")  # each once, in the event's order
    assert notice.data() == {
        "runId": "stl-1-2",
        "intervals": sorted(INTERVALS),
        "statementDate": "2026-12-03",
    }
    assert S.title(notice) == "Settlement completed: 2 intervals"
    text = S.email_text(notice)
    assert "stl-1-2" in text and "GET /v1/statements?date=2026-12-03" in text
    assert "2026-12-03T10:00:00.000Z" in S.message(notice) and "2026-12-03T10:15:00.000Z" in S.message(notice)


def test_a_failed_run_is_critical_and_names_error_and_cause() -> None:
    notice = S.parse("SettlementFailed", {"runId": "r1", "error": "States.TaskFailed", "cause": "x" * 5000}, AT)
    assert notice.kind == "settlement.failed" and notice.severity == "critical" and notice.parties == ()
    assert notice.data() == {"runId": "r1", "error": "States.TaskFailed", "cause": "x" * S.MAX_CAUSE}
    assert "States.TaskFailed" in S.email_subject(notice) and "/v1/settlements/r1" in S.email_text(notice)


@pytest.mark.parametrize(
    "notice",
    [
        S.parse("SettlementCompleted", completed(), AT),
        S.parse("SettlementFailed", {"runId": "r1", "error": "E", "cause": "C"}, AT),
    ],
)
def test_a_delivery_carries_the_notice_whole(notice: S.Notice) -> None:
    back = S.notice_from_delivery({"type": notice.kind, "settlement": notice.data()})
    assert back.data() == notice.data() and back.kind == notice.kind and back.severity == notice.severity


@pytest.mark.parametrize(
    ("detail_type", "detail"),
    [
        ("SettlementCompleted", completed(runId="")),
        ("SettlementCompleted", completed(intervals="2026-12-03")),
        ("SettlementCompleted", completed(parties=[None])),
        ("SettlementCompleted", completed(parties=[f"u{i}" for i in range(501)])),
        ("SettlementFailed", {"error": "E"}),
        ("SettlementStarted", completed()),
    ],
)
def test_an_event_off_the_contract_is_refused(detail_type: str, detail: dict[str, Any]) -> None:
    with pytest.raises(S.NoticeError):
        S.parse(detail_type, detail, AT)
