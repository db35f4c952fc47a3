"""A request's time budget (gridshare.kernel.deadline), on the kernel clock: moved, never slept."""

from __future__ import annotations

import pytest

from gridshare.kernel import clock
from gridshare.kernel.deadline import NEVER, Deadline, request_deadline
from gridshare.kernel.settings import reset_settings


def test_a_deadline_passes_when_the_clock_reaches_it() -> None:
    with clock.frozen("2026-11-24T12:00:00Z") as frozen:
        deadline = Deadline.after(8_000)
        assert not deadline.passed() and deadline.remaining_ms() == 8_000
        frozen.advance(7.999)
        assert not deadline.passed() and deadline.remaining_ms() == 1
        frozen.advance(ms=1)
        assert deadline.passed() and deadline.remaining_ms() == 0
        frozen.advance(3600)
        assert not NEVER.passed() and NEVER.remaining_ms() is None


def test_the_request_budget_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    with clock.frozen(1_000_000) as frozen:
        reset_settings()
        assert request_deadline() == Deadline(1_008_000)  # 8 s by default, below the API Lambdas' 15 s
        monkeypatch.setenv("GS_REQUEST_DEADLINE_MS", "2500")
        reset_settings()
        frozen.advance(1)
        assert request_deadline() == Deadline(1_003_500)
    reset_settings()
