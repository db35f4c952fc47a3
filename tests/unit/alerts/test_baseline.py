"""The baseline comparison of generation_drop / consumption_spike: median, MAD, the bound, and its
invariants (robust to one outlier day, monotonic in the current value, symmetric between the kinds)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.alerts.baseline import (
    DAY_MS,
    QUARTER_MS,
    closed_quarter,
    history_starts,
    judge,
    mad,
    median,
)

energies = st.floats(min_value=0, max_value=1e6, allow_nan=False)
histories = st.lists(energies, min_size=3, max_size=7)


def test_median_and_mad() -> None:
    assert median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
    assert mad([1, 1, 2, 2, 4, 6, 9]) == 1
    with pytest.raises(ValueError):
        median([])


def test_quarters() -> None:
    now = 1_767_225_600_000 + 7 * 60_000  # 00:07
    assert closed_quarter(now) == 1_767_225_600_000 - QUARTER_MS
    assert history_starts(0, 2) == [-2 * DAY_MS, -DAY_MS]


def test_a_drop_and_a_spike_against_a_week() -> None:
    week = [1000.0, 1100.0, 950.0, 1050.0, 1000.0, 980.0, 1020.0]
    assert judge("generation_drop", 100.0, week).breach  # type: ignore[union-attr]
    assert not judge("generation_drop", 900.0, week).breach  # type: ignore[union-attr]
    assert judge("consumption_spike", 3000.0, week).breach  # type: ignore[union-attr]
    assert not judge("consumption_spike", 1100.0, week).breach  # type: ignore[union-attr]
    assert judge("generation_drop", 0.0, week[:2]) is None  # no baseline yet


@given(histories, energies)
def test_one_outlier_day_moves_the_bound_little(history: list[float], outlier: float) -> None:
    base = judge("consumption_spike", 0.0, history)
    with_outlier = judge("consumption_spike", 0.0, [*history, outlier, outlier * 0 + max(history)])
    assert base is not None and with_outlier is not None
    assert min(history) <= with_outlier.median <= max(history)


@given(histories, energies, energies)
def test_the_verdict_is_monotonic_in_the_current_energy(history: list[float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    drop_low, drop_high = judge("generation_drop", low, history), judge("generation_drop", high, history)
    spike_low, spike_high = judge("consumption_spike", low, history), judge("consumption_spike", high, history)
    assert drop_low and drop_high and spike_low and spike_high
    assert drop_low.breach >= drop_high.breach  # a lower energy is at least as much a drop
    assert spike_high.breach >= spike_low.breach


@given(histories)
def test_the_median_itself_never_breaches(history: list[float]) -> None:
    centre = median(history)
    assert not judge("generation_drop", centre, history).breach  # type: ignore[union-attr]
    assert not judge("consumption_spike", centre, history).breach  # type: ignore[union-attr]
