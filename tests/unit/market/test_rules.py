"""The market's pure rules: interval names, gate closure, the horizon, ASK capacity, statuses, trade ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.kernel import errors
from gridshare.market.rules import (
    INTERVAL_MS,
    MarketRules,
    after_clearing,
    id_bound,
    interval_iso,
    max_ask_wh,
    parse_interval,
    trade_id,
)

T0 = parse_interval("2026-12-02T10:15:00Z")
MINUTE = 60_000


def _field(exc: pytest.ExceptionInfo[errors.InvalidInput]) -> set[str]:
    return {e.field for e in exc.value.errors}


def test_an_interval_is_named_by_its_start_on_a_15_minute_boundary() -> None:
    assert interval_iso(T0) == "2026-12-02T10:15:00Z"
    assert parse_interval("2026-12-02T11:15:00+01:00") == T0
    for bad in ("2026-12-02T10:07:00Z", "2026-12-02T10:15:00.5Z", "2026-12-02T10:15:00", "tomorrow", ""):
        with pytest.raises(errors.InvalidInput) as exc:
            parse_interval(bad)
        assert _field(exc) == {"interval"}, bad


@given(st.integers(min_value=0, max_value=10**6))
def test_every_interval_name_parses_back(n: int) -> None:
    start = n * INTERVAL_MS
    assert parse_interval(interval_iso(start)) == start


def test_orders_are_taken_until_gate_closure_and_within_the_horizon() -> None:
    rules = MarketRules(gate_closure_s=300, horizon_days=2)
    assert rules.gate(T0) == T0 - 5 * MINUTE
    rules.check_orderable(T0, T0 - 5 * MINUTE - 1)  # the last millisecond before the gate
    for now in (T0 - 5 * MINUTE, T0, T0 + INTERVAL_MS):
        with pytest.raises(errors.InvalidInput) as exc:
            rules.check_orderable(T0, now)
        assert _field(exc) == {"interval"}
    rules.check_orderable(T0, T0 - 2 * 86_400_000)  # day-ahead and two days ahead work
    with pytest.raises(errors.InvalidInput):
        rules.check_orderable(T0, T0 - 2 * 86_400_000 - 1)


@given(st.integers(min_value=0, max_value=86_400), st.integers(min_value=-(10**8), max_value=10**8))
def test_an_interval_is_open_exactly_before_its_gate(gate_s: int, offset: int) -> None:
    rules = MarketRules(gate_closure_s=gate_s)
    now = T0 + offset
    assert rules.is_open(T0, now) == (now < T0 - gate_s * 1000)
    status = rules.interval_status(T0, now, None)
    assert status == ("open" if rules.is_open(T0, now) else "closed")
    assert rules.interval_status(T0, now, "cleared") == "cleared"


def test_an_ask_offers_at_most_a_quarter_hour_of_its_site() -> None:
    assert max_ask_wh(10) == 2_500
    assert max_ask_wh(9.9) == 2_475
    assert max_ask_wh(0.004) == 1


@given(st.integers(min_value=1, max_value=10**8), st.data())
def test_an_order_after_clearing_is_filled_partly_filled_or_expired(energy: int, data: st.DataObject) -> None:
    filled = data.draw(st.integers(min_value=0, max_value=energy))
    status = after_clearing(energy, filled)
    assert status == ("filled" if filled == energy else "partially_filled" if filled else "expired")
    with pytest.raises(ValueError):
        after_clearing(energy, energy + 1)


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30), st.integers(0, 10**6))
def test_trade_ids_are_deterministic_and_sort_by_interval(bid: str, ask: str, n: int) -> None:
    start = n * INTERVAL_MS
    one = trade_id(start, bid, ask)
    assert one == trade_id(start, bid, ask)
    assert id_bound(start, upper=False) <= one <= id_bound(start, upper=True)
    assert one < trade_id(start + INTERVAL_MS, bid, ask)
