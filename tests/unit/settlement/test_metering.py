"""The vectorised core against the scalar rules: site energy = sites.energy.figures per site and interval,
delivery = rules.deliveries, and the decoding of rollup items (missing counters, Decimals, other shards); a
shard's metered energy the same by the scalar rules as by the vectorised core."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.settlement.inputs import InputReader, RunInputs
from gridshare.settlement.metering import MeterTable, decode_rollups, deliver, site_energy
from gridshare.settlement.rules import IntervalInput, Tariffs, deliveries
from gridshare.sites.energy import EXPORT, IMPORT, figures

from .strategies import intervals

START = 1_796_292_000_000
Q = 900_000
ROLES = ("production", "consumption", "storage", "grid_meter")


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[tuple[str, str, str]], list[dict[str, object]]]:
    meters = [
        (f"dev{n}", f"site{draw(st.integers(0, 3))}", draw(st.sampled_from(ROLES)))
        for n in range(draw(st.integers(1, 8)))
    ]
    items: list[dict[str, object]] = []
    for device, _site, _role in meters:
        for slot in draw(st.sets(st.integers(-1, 4), max_size=5)):
            item: dict[str, object] = {"pk": f"{device}#15m", "bucket": START + slot * Q, "n": 3}
            for key in ("e_energy_export_wh", "e_energy_import_wh"):
                if draw(st.booleans()):
                    item[key] = draw(st.integers(-5, 3000))
            items.append(item)
    items.append({"pk": "other#15m", "bucket": START, "e_energy_export_wh": 99})  # another shard's meter
    return meters, draw(st.permutations(items))


@settings(max_examples=50, deadline=None)
@given(fleets())
def test_site_energy_matches_the_sites_figures(
    fleet: tuple[list[tuple[str, str, str]], list[dict[str, object]]],
) -> None:
    meters, items = fleet
    table = MeterTable.build(meters)
    energy = site_energy(decode_rollups(items, table), table, start=START, intervals=4)
    for s, site_id in enumerate(table.site_ids):
        mine = [(d, r) for d, site, r in meters if site == site_id]
        for k in range(4):
            readings = []
            for device, role in mine:
                counters: dict[str, int] = {}
                for item in items:
                    if item["pk"] == f"{device}#15m" and item["bucket"] == START + k * Q:
                        counters = {
                            EXPORT: int(item.get("e_energy_export_wh", 0)),  # type: ignore[call-overload]
                            IMPORT: int(item.get("e_energy_import_wh", 0)),  # type: ignore[call-overload]
                        }
                readings.append((role, counters))
            f = figures(
                readings,  # type: ignore[arg-type]
                has_grid_meter=any(r == "grid_meter" for _, r in mine),
                has_load_meter=any(r == "consumption" for _, r in mine),
            )
            assert (energy.export_wh[s, k], energy.import_wh[s, k]) == (f.export, f.import_)


def test_decoding_takes_decimals_and_missing_counters() -> None:
    table = MeterTable.build([("a", "s1", "grid_meter"), ("b", "s2", "production")])
    items = [
        {"pk": "a#15m", "bucket": Decimal(START), "e_energy_export_wh": Decimal(120)},
        {"pk": "b#15m", "bucket": START + Q, "e_energy_export_wh": 7, "e_energy_import_wh": 2},
        {"pk": "a#1h", "bucket": START, "e_energy_import_wh": 5},  # another resolution: not this table's
    ]
    rollups = decode_rollups(items, table)
    assert rollups.meter.tolist() == [0, 1]
    energy = site_energy(rollups, table, start=START, intervals=2)
    assert energy.export_wh.tolist() == [[120, 0], [0, 5]]
    assert energy.import_wh.tolist() == [[0, 0], [0, 0]]


@settings(max_examples=50, deadline=None)
@given(intervals(max_sites=5, max_trades=10))
def test_vectorised_delivery_equals_the_rules(inp: IntervalInput) -> None:
    index = {s.id: n for n, s in enumerate(inp.sites)}
    trades = sorted(inp.trades, key=lambda t: t.id)
    got = deliver(
        np.array([s.net_export for s in inp.sites], dtype=np.int64),
        np.array([index[t.seller_site_id] for t in trades], dtype=np.int64),
        np.array([t.energy_wh for t in trades], dtype=np.int64),
    )
    expected = deliveries(inp)
    assert got.tolist() == [expected[t.id] for t in trades]


def test_rollups_to_postings_for_two_intervals() -> None:
    """The wiring a shard does: rollup items -> site readings per interval -> rules.Site -> postings."""
    from gridshare.settlement.rules import Site, Tariffs, Trade, settle

    table = MeterTable.build(
        [("pv", "sun", "production"), ("gm", "sun", "grid_meter"), ("load", "shop", "consumption")]
    )
    items = [
        {"pk": "gm#15m", "bucket": START, "e_energy_export_wh": 1200, "e_energy_import_wh": 0},
        {"pk": "pv#15m", "bucket": START, "e_energy_export_wh": 1500},
        {"pk": "load#15m", "bucket": START, "e_energy_import_wh": 1000},
        {"pk": "gm#15m", "bucket": START + Q, "e_energy_export_wh": 300, "e_energy_import_wh": 50},
        {"pk": "load#15m", "bucket": START + Q, "e_energy_import_wh": 900},
    ]
    readings = site_energy(decode_rollups(items, table), table, start=START, intervals=2).readings(table.site_ids)
    assert readings == {START: {"shop": (0, 1000), "sun": (1200, 0)}, START + Q: {"shop": (0, 900), "sun": (300, 50)}}
    delivered = []
    for at, by_site in sorted(readings.items()):
        sites = tuple(Site(s, f"host-{s}", e, i, 5) for s, (e, i) in sorted(by_site.items()))
        trade = Trade(f"t{at}", "b", "a", "host-shop", "shop", "host-sun", "sun", 1000, 20, 3)
        result = settle(IntervalInput(at, Tariffs("EUR", 30, 10), sites, (trade,)))
        delivered.append(result.delivered_wh[trade.id])
    assert delivered == [1000, 250]  # the second interval's net export is 300 - 50


class _Energy:
    """The telemetry service as `InputReader.metered` reads it: each device's 15-minute energy buckets."""

    def __init__(self, items: list[dict[str, object]]) -> None:
        self.items = items

    def energy_buckets(self, device: str, resolution: str, start: int, end: int) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {}
        for item in self.items:
            bucket = int(item["bucket"])  # type: ignore[call-overload]
            if item["pk"] == f"{device}#{resolution}" and start <= bucket < end:
                out[bucket] = {
                    key: int(item[field])  # type: ignore[call-overload]
                    for key, field in ((EXPORT, "e_energy_export_wh"), (IMPORT, "e_energy_import_wh"))
                    if field in item
                }
        return out


@settings(max_examples=50, deadline=None)
@given(fleets(), st.integers(1, 4))
def test_metered_energy_is_the_same_with_and_without_numpy(
    fleet: tuple[list[tuple[str, str, str]], list[dict[str, object]]], n_intervals: int
) -> None:
    # Given a shard's sites with their meters' rollups (some sites without meters, buckets outside the run)
    meters, items = fleet
    sites = {f"site{n}": {"devices": [(d, r) for d, s, r in meters if s == f"site{n}"]} for n in range(5)}
    inputs = RunInputs("EUR", Tariffs("EUR", 30, 10), sites, (), {})
    telemetry = _Energy(items)
    # When the run's metered energy is summed by the scalar rules and by the vectorised core
    scalar = InputReader(telemetry=lambda: telemetry, numpy_from=10**9)  # type: ignore[arg-type,return-value]
    vectorised = InputReader(telemetry=lambda: telemetry, numpy_from=0)  # type: ignore[arg-type,return-value]
    # Then every site's export and import of every interval is the same
    site_ids = sorted(sites)
    expected = vectorised.metered(inputs, site_ids, START, n_intervals)
    assert scalar.metered(inputs, site_ids, START, n_intervals) == expected
    assert sorted(expected) == [START + k * Q for k in range(n_intervals)]
