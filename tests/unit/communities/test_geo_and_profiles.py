"""Boundaries (GeoJSON Polygon checks, point in polygon), synthetic profiles and the community figures."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.communities import energy as E
from gridshare.communities import geo, profiles

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}
WITH_HOLE = {
    "type": "Polygon",
    "coordinates": [SQUARE["coordinates"][0], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]],
}
DAY = 86_400_000


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"type": "Point", "coordinates": [0, 0]}, "Polygon"),
        ({"type": "Polygon", "coordinates": []}, "linear rings"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not closed"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]}, "lon in"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 91], [1, 1], [0, 0]]]}, "lon in"),
        ({"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]}, "[lon, lat]"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [True, 0], [1, 1], [0, 0]]]}, "[lon, lat]"),
    ],
)
def test_invalid_polygons_are_named(value: object, problem: str) -> None:
    found = geo.polygon_problem(value)
    assert found is not None and problem in found


def test_points_inside_outside_and_in_a_hole() -> None:
    assert geo.polygon_problem(WITH_HOLE) is None
    assert geo.contains(SQUARE, 5, 5) and geo.contains(SQUARE, 0.5, 9.5)
    assert not geo.contains(SQUARE, 11, 5) and not geo.contains(SQUARE, 5, -1)
    assert not geo.contains(WITH_HOLE, 5, 5) and geo.contains(WITH_HOLE, 2, 2)


@given(st.floats(min_value=-20, max_value=30), st.floats(min_value=-20, max_value=30))
def test_a_square_contains_exactly_the_points_strictly_inside_it(lon: float, lat: float) -> None:
    if 0 < lon < 10 and 0 < lat < 10:
        assert geo.contains(SQUARE, lon, lat)
    elif not (0 <= lon <= 10 and 0 <= lat <= 10):
        assert not geo.contains(SQUARE, lon, lat)


def test_a_profile_is_deterministic_and_additive_over_slots() -> None:
    profile = profiles.Profile(annual_load_kwh=3650, pv_kwp=5, lon=0)
    start = 1_780_000_000_000 // DAY * DAY  # a UTC midnight in June 2026
    day = profiles.interval_energy(profile, start, start + DAY)
    hours = [profiles.interval_energy(profile, start + h * 3_600_000, start + (h + 1) * 3_600_000) for h in range(24)]
    assert day == (sum(p for p, _ in hours), sum(c for _, c in hours))
    assert day == profiles.interval_energy(profile, start, start + DAY)
    production, consumption = day
    assert abs(consumption - 10_000) < 50  # 3,650 kWh a year: 10 kWh a day
    assert 15_000 < production < 30_000  # 5 kWp in June, clear sky
    assert all(p == 0 for p, _ in hours[:5]) and all(p == 0 for p, _ in hours[19:])  # no sun at night


def test_no_pv_means_no_production_and_a_profile_never_goes_negative() -> None:
    profile = profiles.Profile.of({"annualLoadKwh": 4000, "pvKwp": 0}, lon=11.5)
    for slot in range(0, DAY, profiles.SLOT_MS):
        p, c = profiles.slot_energy(profile, 1_780_000_000_000 + slot)
        assert p == 0 and c > 0


def test_community_figures_balance_and_co2_is_rounded_from_local_energy() -> None:
    members = [E.MemberSeries("a", [(1_000, 200), (0, 0)]), E.MemberSeries("b", [(0, 500), (0, 300)])]
    rows = E.community_energy(members, 2, "pro_rata")
    assert [r.shared for r in rows] == [500, 0]
    total = E.summarize(rows, 300)
    assert (total.production, total.consumption, total.self_consumed, total.shared) == (1_000, 1_000, 200, 500)
    assert (total.grid_import, total.grid_export) == (300, 300)
    assert total.self_sufficiency == pytest.approx(0.7)
    assert total.co2_avoided_g == 210 == E.co2_avoided_g(700, 300)
    assert E.co2_avoided_g(1, 500) == round(Fraction(1, 2))  # half to even: 0


def test_intervals_are_utc_aligned() -> None:
    assert E.interval_starts(DAY + 1, DAY + 3_600_000 * 2, "1h") == [DAY, DAY + 3_600_000]
    assert E.interval_starts(DAY + 5, 2 * DAY + 1, "1d") == [DAY, 2 * DAY]
    assert E.source_resolution("1d") == "1h" and E.source_resolution("15m") == "15m"
