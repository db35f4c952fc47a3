"""The kernel clock (gridshare.kernel.clock): the local stack's shared offset and time fixed by tests, no sleeping."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridshare.kernel import clock
from gridshare_local.clock import read_offset, write_offset

T0 = "2026-11-24T12:00:00.000Z"
T0_MS = clock.parse_time(T0)


@pytest.fixture
def clock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "clock.json"
    monkeypatch.setenv(clock.CLOCK_FILE_ENV, str(path))
    return path


def test_without_a_clock_file_now_is_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.CLOCK_FILE_ENV, raising=False)
    before = datetime.now(UTC).timestamp() * 1000
    now = clock.now_ms()
    after = datetime.now(UTC).timestamp() * 1000
    assert before - 1 <= now <= after + 1
    assert clock.offset_ms() == 0


def test_the_offset_in_the_clock_file_moves_now(clock_file: Path) -> None:
    assert clock.offset_ms() == 0  # no file yet: real time
    write_offset(clock_file, 20 * 60_000)
    real = datetime.now(UTC).timestamp() * 1000
    assert clock.offset_ms() == 20 * 60_000
    assert clock.now_ms() - real == pytest.approx(20 * 60_000, abs=1000)
    assert clock.now_s() * 1000 - real == pytest.approx(20 * 60_000, abs=1000)
    assert (clock.now().timestamp() * 1000) - real == pytest.approx(20 * 60_000, abs=1000)
    assert clock.now().tzinfo is UTC


def test_every_write_is_seen_at_once_even_within_one_file_system_tick(clock_file: Path) -> None:
    for n in range(1, 50):  # far quicker than the file system's timestamp granularity
        write_offset(clock_file, n * 1000)
        assert clock.offset_ms() == n * 1000
    assert read_offset(clock_file) == 49_000
    assert json.loads(clock_file.read_text()) == {clock.OFFSET_KEY: 49_000}


def test_the_file_is_read_again_only_when_it_changes(clock_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_offset(clock_file, 5000)
    assert clock.offset_ms() == 5000
    opened: list[str] = []
    real_open = open

    def counting_open(path: str, *args: object, **kwargs: object) -> object:
        opened.append(path)
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", counting_open)
    for _ in range(100):
        assert clock.offset_ms() == 5000
    assert opened == []
    write_offset(clock_file, 6000)
    assert clock.offset_ms() == 6000
    assert opened == [str(clock_file)]


def test_a_corrupt_clock_file_is_an_error_that_names_it(clock_file: Path) -> None:
    clock_file.write_text("not json")
    os.utime(clock_file, ns=(1, 1))
    with pytest.raises(RuntimeError, match="GS_CLOCK_FILE"):
        clock.offset_ms()


def test_frozen_fixes_now_and_moves_only_when_told() -> None:
    with clock.frozen(T0) as frozen:
        assert clock.now_ms() == T0_MS
        assert clock.to_iso(clock.now_ms()) == T0
        frozen.advance(90)
        assert clock.to_iso(clock.now_ms()) == "2026-11-24T12:01:30.000Z"
        frozen.advance(ms=5)
        assert clock.now_ms() == T0_MS + 90_005
        assert clock.now() == datetime(2026, 11, 24, 12, 1, 30, 5000, tzinfo=UTC)
        frozen.set(datetime(2027, 1, 1, tzinfo=UTC))
        assert clock.to_iso(clock.now_ms()) == "2027-01-01T00:00:00.000Z"
        with pytest.raises(ValueError):
            frozen.advance(-1)
    assert abs(clock.now_ms() - datetime.now(UTC).timestamp() * 1000) < 1000  # restored


def test_frozen_beats_the_offset_file_and_is_seen_by_every_thread(clock_file: Path) -> None:
    write_offset(clock_file, 3_600_000)
    seen: list[int] = []
    with clock.frozen(T0_MS):
        thread = threading.Thread(target=lambda: seen.append(clock.now_ms()))
        thread.start()
        thread.join()
        assert seen == [T0_MS]
    assert clock.offset_ms() == 3_600_000


def test_frozen_nests_and_restores_the_outer_clock() -> None:
    with clock.frozen(T0_MS):
        with clock.frozen(T0_MS + 1):
            assert clock.now_ms() == T0_MS + 1
        assert clock.now_ms() == T0_MS


def test_set_source_injects_any_function() -> None:
    ticks = iter([1, 2, 3])
    clock.set_source(lambda: next(ticks))
    try:
        assert [clock.now_ms(), clock.now_ms(), clock.now_ms()] == [1, 2, 3]
    finally:
        clock.set_source(None)


def test_a_naive_frozen_time_is_refused() -> None:
    with pytest.raises(ValueError), clock.frozen(datetime(2026, 1, 1)):
        pass


def test_bound_defaults_still_follow_the_injected_clock() -> None:
    """Services take `clock: Callable[[], int] = now_ms`: the default is bound once, yet follows time."""
    from gridshare.identity.mfa import MfaService
    from gridshare.kernel.ids import milliseconds, new_id

    service = MfaService()
    with clock.frozen(T0_MS):
        assert service.clock() == T0_MS / 1000
        assert milliseconds(new_id()) == T0_MS
