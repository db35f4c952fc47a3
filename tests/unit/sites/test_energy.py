"""The site energy arithmetic (gridshare.sites.energy): examples, then properties over any meters."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.sites import energy as E

EXP, IMP = E.EXPORT, E.IMPORT
Q = 900_000  # 15 minutes in ms
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


# ------------------------------------------------------------------------------------ examples
def test_grid_meter_and_production_meter() -> None:
    # Given a PV meter that produced 1,000 Wh and a grid meter that exported 300 Wh and imported 200 Wh
    f = E.figures(
        [("production", {EXP: 1000}), ("grid_meter", {EXP: 300, IMP: 200})], has_grid_meter=True, has_load_meter=False
    )
    # Then the site consumed what it produced and imported, less what it exported
    assert (f.production, f.export, f.import_, f.consumption) == (1000, 300, 200, 900)
    assert f.self_consumption == 700
    assert f.self_sufficiency == pytest.approx(700 / 900)


def test_without_a_grid_meter_export_and_import_come_from_the_balance() -> None:
    f = E.figures([("production", {EXP: 500}), ("consumption", {IMP: 800})], has_grid_meter=False, has_load_meter=True)
    assert (f.export, f.import_, f.self_consumption) == (0, 300, 500)
    assert f.self_sufficiency == pytest.approx(500 / 800)


def test_storage_discharge_counts_as_supply_and_charge_as_demand() -> None:
    f = E.figures(
        [("production", {EXP: 1000}), ("consumption", {IMP: 400}), ("storage", {IMP: 500, EXP: 0})],
        has_grid_meter=False,
        has_load_meter=True,
    )
    assert (f.export, f.import_, f.self_consumption) == (100, 0, 400)


def test_nothing_consumed_has_no_self_sufficiency() -> None:
    f = E.figures([("production", {EXP: 10})], has_grid_meter=False, has_load_meter=False)
    assert (f.consumption, f.export, f.self_consumption, f.self_sufficiency) == (0, 10, 0, None)


def test_a_negative_delta_is_no_energy() -> None:
    # A counter reset never reaches the rollups (telemetry dead-letters it); if one did, it adds nothing
    f = E.figures([("production", {EXP: -5000}), ("grid_meter", {IMP: -1})], has_grid_meter=True, has_load_meter=False)
    assert (f.production, f.import_, f.consumption) == (0, 0, 0)


def test_buckets_go_to_the_interval_holding_their_start_and_gaps_are_zero() -> None:
    starts = E.interval_starts(T0, T0 + 3 * Q, "15m", "UTC")
    assert starts == [T0, T0 + Q, T0 + 2 * Q]
    meter = E.MeterSeries("production", {T0: {EXP: 5}, T0 + 2 * Q: {EXP: 7}, T0 + 3 * Q: {EXP: 100}})
    rows = E.site_energy([meter], starts, T0 + 3 * Q)
    assert [f.production for _, _, f in rows] == [5, 0, 7]  # the gap is 0; the bucket past `end` left out
    assert rows[1][0:2] == (T0 + Q, T0 + 2 * Q)


def test_days_are_the_sites_local_days_across_dst() -> None:
    # Europe/Berlin: 2026-03-29 has 23 hours (CET -> CEST)
    start, end = ms("2026-03-28T12:00:00Z"), ms("2026-03-30T12:00:00Z")
    starts = E.interval_starts(start, end, "1d", "Europe/Berlin")
    assert starts == [ms("2026-03-27T23:00:00Z"), ms("2026-03-28T23:00:00Z"), ms("2026-03-29T22:00:00Z")]
    assert E.source_resolution("1d", starts) == "1h"
    # a zone whose midnight is not on a whole UTC hour is read from 15-minute buckets
    india = E.interval_starts(start, end, "1d", "Asia/Kolkata")
    assert india[0] == ms("2026-03-27T18:30:00Z")
    assert E.source_resolution("1d", india) == "15m"


# ---------------------------------------------------------------------------------- properties
wh = st.integers(min_value=-1000, max_value=10**7)  # negative: a delta that should never be there
counters = st.fixed_dictionaries({}, optional={IMP: wh, EXP: wh})
roles = st.sampled_from(E.ROLES)
meter_sets = st.lists(
    st.tuples(roles, st.dictionaries(st.integers(min_value=0, max_value=11), counters, max_size=12)),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(meter_sets)
def test_figures_are_never_negative_and_self_consumption_is_bounded(meters: list) -> None:
    series = [E.MeterSeries(role, {T0 + i * Q: c for i, c in buckets.items()}) for role, buckets in meters]
    starts = E.interval_starts(T0, T0 + 12 * Q, "15m", "UTC")
    rows = E.site_energy(series, starts, T0 + 12 * Q)
    assert len(rows) == 12
    for _, _, f in rows:
        assert min(f.production, f.consumption, f.export, f.import_, f.self_consumption) >= 0
        assert f.self_consumption <= f.production
        assert f.self_consumption <= f.consumption
        assert f.self_sufficiency is None or 0 <= f.self_sufficiency <= 1
    total = E.totals(f for _, _, f in rows)
    # totals are the sums of the intervals
    assert total.production == sum(f.production for _, _, f in rows)
    assert total.consumption == sum(f.consumption for _, _, f in rows)
    assert total.export == sum(f.export for _, _, f in rows)
    assert total.import_ == sum(f.import_ for _, _, f in rows)
    assert total.self_consumption == sum(f.self_consumption for _, _, f in rows)
    assert total.self_consumption <= min(total.production, total.consumption)
    # production is exactly the production meters' positive export deltas
    assert total.production == sum(
        max(0, c.get(EXP, 0)) for role, buckets in meters if role == "production" for c in buckets.values()
    )


@settings(max_examples=200, deadline=None)
@given(meter_sets)
def test_coarser_intervals_add_up_the_finer_ones(meters: list) -> None:
    # Given the same buckets read as 15-minute intervals and as one interval of three hours
    series = [E.MeterSeries(role, {T0 + i * Q: c for i, c in buckets.items()}) for role, buckets in meters]
    fine = E.site_energy(series, E.interval_starts(T0, T0 + 12 * Q, "15m", "UTC"), T0 + 12 * Q)
    (coarse,) = E.site_energy(series, [T0], T0 + 12 * Q)
    # Then metered figures add up exactly (production, and export/import when a grid meter measures them)
    assert coarse[2].production == sum(f.production for _, _, f in fine)
    if any(role == "grid_meter" for role, _ in meters):
        assert coarse[2].export == sum(f.export for _, _, f in fine)
        assert coarse[2].import_ == sum(f.import_ for _, _, f in fine)
    # and without a grid meter or a battery, a longer interval never finds less self-consumption than its
    # parts did (export derived from the balance can only net out over a longer interval)
    if not any(role in ("grid_meter", "storage") for role, _ in meters):
        assert coarse[2].self_consumption >= sum(f.self_consumption for _, _, f in fine)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=ms("2020-01-01T00:00:00Z"), max_value=ms("2030-01-01T00:00:00Z")),
    st.integers(min_value=1, max_value=40 * 86_400_000),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
    st.sampled_from(["15m", "1h", "1d"]),
)
def test_intervals_cover_the_range_in_order(start: int, span: int, zone: str, resolution: E.Resolution) -> None:
    end = start + span
    starts = E.interval_starts(start, end, resolution, zone)
    assert starts[0] <= start < (starts[1] if len(starts) > 1 else end + 1)
    assert starts == sorted(set(starts))
    assert starts[-1] < end
    if resolution == "1d":
        assert all(22 * 3_600_000 <= b - a <= 26 * 3_600_000 for a, b in zip(starts, starts[1:], strict=False))
        first = datetime.fromtimestamp(starts[0] / 1000, tz=UTC).astimezone(ZoneInfo(zone))
        assert (first.hour, first.minute) == (0, 0)
