"""The rollup job of decision 0016 against moto: stored hours and days, late readings re-rolled, the job's
continuation, and readers that give the same numbers before, between and after its runs."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.kernel import clock
from gridshare.kernel.aws import client
from gridshare.telemetry.models import RawReadingModel, RollupModel
from gridshare.telemetry.raw_store import RawStore
from gridshare.telemetry.readings import RESOLUTIONS, SPLIT_CAP_MS, CounterState, Reading
from gridshare.telemetry.rollup_items import DAY_MS, HOUR_MS
from gridshare.telemetry.rollup_job import RollupJob
from gridshare.telemetry.rollup_store import RollupItemStore, UnprocessedWrites
from gridshare.telemetry.rollups import counter_state
from gridshare.telemetry.segments import Segment
from gridshare.telemetry.store import StoreOutcome, TelemetryStore

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
_devices = itertools.count()


def _stores() -> tuple[TelemetryStore, RawStore, RawStore, RollupJob]:
    ddb = client("dynamodb")
    items = RollupItemStore(ddb, RollupModel.Meta.table_name)
    with_items = RawStore(ddb, RawReadingModel.Meta.table_name, items)
    from_raw = RawStore(ddb, RawReadingModel.Meta.table_name)  # every bucket recomputed from raw: the oracle
    return TelemetryStore(ddb=ddb), with_items, from_raw, RollupJob(raw=with_items, items=items, max_future_ms=300_000)


def _pages(raw: RawStore, device: str, resolution: str, start: int, end: int, limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        rows, after = raw.rollups(device, resolution, start, end, limit, after)
        out.extend(rows)
        if after is None:
            return out


def _same_reads(with_items: RawStore, from_raw: RawStore, device: str, start: int, end: int, limit: int) -> None:
    for resolution in RESOLUTIONS:
        expected = _pages(from_raw, device, resolution, start, end, 10_000)
        assert _pages(with_items, device, resolution, start, end, limit) == expected, resolution


@st.composite
def arrivals(draw: st.DrawFn) -> list[tuple[int, int, dict[str, Any], bool]]:
    """Readings in time order (counters rising), then delivered in an order with late, out-of-order and
    duplicate deliveries: (arrival, seq, reading, run the job before it)."""
    count = draw(st.integers(2, 14))
    ts = T0 + draw(st.integers(0, 3 * HOUR_MS))
    energy = draw(st.integers(0, 10**6))
    readings = []
    for seq in range(count):
        ts += draw(st.one_of(st.integers(60_000, 50 * 60_000), st.just(3 * HOUR_MS), st.just(SPLIT_CAP_MS + 60_000)))
        energy += draw(st.integers(0, 3_000))
        readings.append((ts, seq, {"power_w": float(draw(st.integers(0, 5_000))), "energy_import_wh": energy}))
    out = []
    for ts, seq, metrics in readings:
        delay = draw(st.one_of(st.just(500), st.integers(1_000, 5 * HOUR_MS)))  # some arrive hours late
        out.append((ts + delay, seq, {"ts": ts, "metrics": metrics}, draw(st.booleans())))
        if draw(st.integers(0, 9)) == 0:  # a redelivery
            out.append((ts + delay + draw(st.integers(1, HOUR_MS)), seq, {"ts": ts, "metrics": metrics}, False))
    out.sort(key=lambda a: a[0])
    return out


@pytest.mark.heavy
@pytest.mark.usefixtures("aws")
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(stream=arrivals(), limit=st.integers(1, 7))
def test_reads_are_the_same_before_between_and_after_job_runs(stream: list[Any], limit: int) -> None:
    device = f"dev-roll-{next(_devices)}"
    store, with_items, from_raw, job = _stores()
    start, end = T0 - DAY_MS, max(a[2]["ts"] for a in stream) + 3 * DAY_MS
    newest: CounterState | None = None
    with clock.frozen(stream[0][0]) as frozen:
        for arrival, seq, body, run_job in stream:
            frozen.set(arrival)
            if run_job:
                job.roll_device(device, arrival)
            reading = Reading(device_id=device, ts=body["ts"], seq=seq, metrics=body["metrics"])
            outcome = store.store(reading, [], newest, counter_state(reading, newest), arrival)
            assert outcome in (StoreOutcome.STORED, StoreOutcome.DUPLICATE)
            newest = counter_state(reading, newest)
        _same_reads(with_items, from_raw, device, start, end, limit)  # what the job has not stored is computed
        # When the job has run long after the last reading, every final hour and day is stored, no marker is left
        later = end + DAY_MS
        frozen.set(later)
        for _ in range(3):  # a device far behind catches up over several visits
            job.roll_device(device, later)
        assert job.items.dirty(device) == []
        stored = job.items.hours(device, start, end)
        computed, _ = from_raw.fold_span(device, start, end)
        for hour, fine in stored.items():
            assert fine == {b: t for b, t in computed.items() if hour <= b < hour + HOUR_MS}, hour
        _same_reads(with_items, from_raw, device, start, end, limit)


@pytest.mark.heavy
@pytest.mark.usefixtures("aws")
def test_closed_hours_and_days_are_stored_once_final_and_rewritten_identically() -> None:
    device = f"dev-roll-{next(_devices)}"
    store, with_items, from_raw, job = _stores()
    state: CounterState | None = None
    with clock.frozen(T0) as frozen:
        for i in range(4 * 30):  # 30 hours of a 15-minute meter
            ts = T0 + i * 900_000
            frozen.set(ts + 500)
            reading = Reading(
                device_id=device, ts=ts, seq=i, metrics={"power_w": 100.0 + i, "energy_import_wh": 25 * i}
            )
            assert store.store(reading, [], state, counter_state(reading, state), ts + 500) is StoreOutcome.STORED
            state = counter_state(reading, state)
        now = T0 + 30 * HOUR_MS
        first = job.roll_device(device, now)
        # the hours up to an hour before the last closed one; the first day has closed
        assert first.hours == 29 and first.days == 1
        assert job.items.dirty(device) == []
        assert job.roll_device(device, now).hours == 0  # nothing new: nothing written
        day = job.items.days(device, T0, T0 + DAY_MS)[T0]
        assert day.n == 96 and day.energy == {"energy_import_wh": 25 * 96}  # the counter difference, to the Wh
        _same_reads(with_items, from_raw, device, T0, T0 + 2 * DAY_MS, 5)


@pytest.mark.usefixtures("aws")
def test_a_late_reading_is_marked_seen_at_once_and_re_rolled() -> None:
    device = f"dev-roll-{next(_devices)}"
    store, with_items, from_raw, job = _stores()
    state: CounterState | None = None
    with clock.frozen(T0) as frozen:
        for i in [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]:  # 10:00-13:00 every 15 minutes but 11:15
            ts = T0 + i * 900_000
            frozen.set(ts + 500)
            reading = Reading(device_id=device, ts=ts, seq=i, metrics={"energy_import_wh": 100 * i})
            store.store(reading, [], state, counter_state(reading, state), ts + 500)
            state = counter_state(reading, state)
        frozen.set(T0 + 3 * HOUR_MS + 60_000)
        assert job.roll_device(device, T0 + 3 * HOUR_MS + 60_000).hours == 2
        before = _pages(with_items, device, "15m", T0, T0 + 3 * HOUR_MS, 100)
        late = Reading(device_id=device, ts=T0 + 4 * 900_000 + 60_000, seq=4, metrics={"energy_import_wh": 410})
        assert store.store(late, [], state, state, T0 + 3 * HOUR_MS + 60_000) is StoreOutcome.STORED
        assert job.items.dirty(device) == [late.ts]
        after = _pages(with_items, device, "15m", T0, T0 + 3 * HOUR_MS, 100)
        assert after != before and after == _pages(from_raw, device, "15m", T0, T0 + 3 * HOUR_MS, 100)
        assert job.roll_device(device, T0 + 3 * HOUR_MS + 60_000).rerolled == 1
        assert job.items.dirty(device) == []
        assert job.items.hours(device, T0 + HOUR_MS, T0 + 2 * HOUR_MS)[T0 + HOUR_MS][T0 + 4 * 900_000].n == 1
        _same_reads(with_items, from_raw, device, T0, T0 + DAY_MS, 3)


@pytest.mark.usefixtures("aws")
def test_a_run_is_bounded_and_continues_where_the_last_stopped() -> None:
    store, _, _, job = _stores()
    devices = [f"dev-fleet-{i}" for i in range(5)]
    for device in devices:
        for i in range(3):
            ts = T0 + i * HOUR_MS
            reading = Reading(device_id=device, ts=ts, seq=i, metrics={"energy_import_wh": i})
            with clock.frozen(ts):
                store.store(reading, [], None, counter_state(reading, None), ts)

    def page(limit: int, after: dict[str, Any] | None, segment: Segment) -> tuple[list[str], dict[str, Any] | None]:
        position = int(after["i"]) if after else 0
        chunk = devices[position : position + limit]
        return chunk, ({"i": position + limit} if position + limit < len(devices) else None)

    job.device_page = page
    now = T0 + 4 * HOUR_MS
    runs = [job.run(max_devices=2, now=now) for _ in range(3)]
    assert [r["devices"] for r in runs] == [2, 2, 1]
    assert [r["passComplete"] for r in runs] == [False, False, True]
    assert all(job.items.last_hour(d) == T0 + HOUR_MS for d in devices)  # 02:00 waits for a reading after it
    assert job.run(max_devices=10, now=now)["devices"] == 5  # the next pass starts from the beginning


def test_unprocessed_writes_are_sent_again_then_fail_the_run() -> None:
    class Throttled:
        def __init__(self, refusals: int) -> None:
            self.refusals = refusals
            self.calls: list[int] = []

        def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803 - boto's name
            (requests,) = RequestItems.values()
            self.calls.append(len(requests))
            if self.refusals:
                self.refusals -= 1
                return {"UnprocessedItems": {"t": requests[1:]}}
            return {}

    requests = [{"DeleteRequest": {"Key": {"i": i}}} for i in range(30)]
    ddb = Throttled(refusals=2)
    RollupItemStore(ddb, "t").write(requests)
    assert ddb.calls == [25, 24, 23, 5]
    with pytest.raises(UnprocessedWrites):
        RollupItemStore(Throttled(refusals=100), "t").write(requests)
