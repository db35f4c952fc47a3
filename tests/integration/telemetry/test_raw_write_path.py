"""The raw-only write path (decision 0016, GS_TELEMETRY_WRITE_PATH=raw) against moto: rollups computed
from the raw items equal the ones decision 0003's transaction ADDs, for the same readings."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridshare.kernel.aws import client
from gridshare.kernel.clock import now_ms
from gridshare.telemetry.models import RawReadingModel
from gridshare.telemetry.raw_store import RawStore, first_key, note_first
from gridshare.telemetry.readings import RESOLUTIONS, SPLIT_CAP_MS, CounterState, Reading
from gridshare.telemetry.rollups import counter_state, rollup_deltas
from gridshare.telemetry.store import StoreOutcome, TelemetryStore
from tests.support.fixtures import empty_tables

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR, DAY = 3_600_000, 86_400_000
_devices = itertools.count()


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[int, dict[str, float | int | bool]]]:
    count = draw(st.integers(1, 12))
    ts = T0 + draw(st.integers(0, 900_000))
    energy = draw(st.integers(0, 10**6))
    out = []
    for _ in range(count):
        ts += draw(st.one_of(st.integers(1_000, 40 * 60_000), st.just(SPLIT_CAP_MS + 60_000)))
        energy += draw(st.integers(0, 3_000))
        out.append((ts, {"power_w": float(draw(st.integers(0, 5_000))), "energy_import_wh": energy}))
    return out


def _store_with_transactions(store: TelemetryStore, device: str, stream: list[Any]) -> None:
    state: CounterState | None = None
    for seq, (ts, metrics) in enumerate(stream):
        reading = Reading(device_id=device, ts=ts, seq=seq, metrics=metrics)
        new = counter_state(reading, state)
        assert store.store(reading, rollup_deltas(reading, state), state, new, ts) is StoreOutcome.STORED
        state = new


@pytest.mark.heavy
@pytest.mark.usefixtures("aws")
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(stream=streams(), limit=st.integers(1, 5))
def test_rollups_from_raw_equal_the_transaction_path(stream: list[Any], limit: int) -> None:
    empty_tables()  # each example on empty tables (the fixture's stack is shared by the examples)
    device = f"dev-{next(_devices)}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GS_TELEMETRY_WRITE_PATH", "transaction")
        store = TelemetryStore(ddb=client("dynamodb"))
        assert store._raw is None
    _store_with_transactions(store, device, stream)  # raw items + ADDed rollups, decision 0003
    raw = RawStore(client("dynamodb"), RawReadingModel.Meta.table_name)
    start, end = T0 - 86_400_000, stream[-1][0] + 3 * 86_400_000
    for resolution in RESOLUTIONS:
        pages = []
        after: int | None = None
        while True:  # page through, as history and energy_buckets do
            rows, after = raw.rollups(device, resolution, start, end, limit, after)
            pages.extend(rows)
            if after is None:
                break
        expected, _ = store.rollups(device, resolution, start, end, 10_000, None)
        assert pages == expected, resolution
    latest = raw.latest(device, stream[-1][0])
    assert latest is not None and latest["ts"] == stream[-1][0] and latest["metrics"] == stream[-1][1]


def test_a_redelivery_is_a_duplicate_and_costs_one_put(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GS_TELEMETRY_WRITE_PATH", "raw")
    store = TelemetryStore(ddb=client("dynamodb"))
    t = now_ms() - 3_600_000
    reading = Reading(device_id="dev-dup", ts=t, seq=1, metrics={"power_w": 5.0, "energy_import_wh": 10})
    state = counter_state(reading, None)
    assert store.store(reading, [], None, state, t + 10) is StoreOutcome.STORED
    assert store.store(reading, [], None, state, t + 20) is StoreOutcome.DUPLICATE
    assert store.latest("dev-dup") == {"ts": t, "seq": 1, "metrics": reading.metrics, "receivedAt": t + 10}
    assert store.counter_state("dev-dup") == CounterState(ts=t, seq=1, counters={"energy_import_wh": 10})


class _Requests:
    """The DynamoDB requests a client sends, by operation."""

    def __init__(self, ddb: Any) -> None:
        self.counts: dict[str, int] = {}
        ddb.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.counts[model.name] = self.counts.get(model.name, 0) + 1


def _without_marker(device: str) -> RawStore:
    """A raw store reading the same items with the device's `first` marker deleted: a device stored before
    markers existed, whose look-backs search every day partition."""
    ddb = client("dynamodb")
    ddb.delete_item(TableName=RawReadingModel.Meta.table_name, Key=first_key(device))
    return RawStore(ddb, RawReadingModel.Meta.table_name)


@pytest.mark.usefixtures("aws")
def test_a_range_before_the_first_reading_costs_a_query_and_a_get_not_the_whole_look_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GS_TELEMETRY_WRITE_PATH", "raw")
    store, device = TelemetryStore(ddb=client("dynamodb")), "dev-first"
    previous: int | None = None
    for seq, ts in enumerate((T0 + HOUR, T0 + HOUR + 900_000, T0 + 2 * HOUR)):
        reading = Reading(device_id=device, ts=ts, seq=seq, metrics={"energy_import_wh": 100 + seq * 10})
        assert store.store_raw(reading, previous, ts, None, ts) is StoreOutcome.STORED
        previous = ts
    ddb = client("dynamodb")
    raw = RawStore(ddb, RawReadingModel.Meta.table_name)
    assert raw.first(device) == T0 + HOUR  # the marker its first put wrote
    requests = _Requests(ddb)
    assert raw.rollups(device, "15m", T0 - DAY, T0, 100, None) == ([], None)
    # The baseline look-back: one Query (the day before the range) and the marker, not 32 Queries; then
    # the range's day and the day of the reading after it.
    assert requests.counts == {"Query": 3, "GetItem": 1}
    requests.counts.clear()
    assert raw.newest(device, T0, T0 - 32 * DAY) is None
    assert raw.oldest(device, T0 - 32 * DAY, T0 + DAY)["ts"] == {"N": str(T0 + HOUR)}  # the rollup job's search
    assert requests.counts == {"Query": 3, "GetItem": 2}
    # A reading before the first (a backfill) moves the marker back before its put: look-backs find it.
    late = Reading(device_id=device, ts=T0 - DAY + HOUR, seq=9, metrics={"energy_import_wh": 40})
    assert store.store_raw(late, previous, T0 + 3 * HOUR, None, T0 + 3 * HOUR) is StoreOutcome.STORED
    assert raw.first(device) == late.ts
    assert raw.newest(device, T0, T0 - 32 * DAY)["ts"] == {"N": str(late.ts)}
    for resolution in RESOLUTIONS:  # the bounded look-backs read what the whole look-back reads
        for start in (T0 - 40 * DAY, T0 - DAY, T0, T0 + HOUR + 1):
            rows = raw.rollups(device, resolution, start, T0 + DAY, 100, None)
            assert rows == _without_marker(device).rollups(device, resolution, start, T0 + DAY, 100, None)
            note_first(ddb, RawReadingModel.Meta.table_name, device, late.ts, create=True)
    days, _ = raw.rollups(device, "1d", T0 - DAY, T0 + DAY, 100, None)  # the counter difference, across days
    assert [d["n"] for d in days] == [1, 3] and sum(d["energy"]["energy_import_wh"] for d in days) == 120 - 40
