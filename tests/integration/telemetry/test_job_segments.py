"""Fleet-wide telemetry jobs in parallel segments (decision 0024) against moto: the device registry's
parallel scan covers every device once, and the rollup job run per segment, several devices at once,
stores exactly what one run over the whole fleet stores, each segment continuing from its own cursor."""

from __future__ import annotations

from typing import Any

import pytest

from gridshare.devices.models import DeviceModel
from gridshare.kernel import clock
from gridshare.kernel.aws import client
from gridshare.telemetry.models import RawReadingModel, RollupModel
from gridshare.telemetry.raw_store import RawStore
from gridshare.telemetry.readings import RESOLUTIONS, Reading
from gridshare.telemetry.rollup_items import DAY_MS, HOUR_MS
from gridshare.telemetry.rollup_job import RollupJob
from gridshare.telemetry.rollup_store import RollupItemStore
from gridshare.telemetry.rollups import counter_state
from gridshare.telemetry.segments import Segment, device_page
from gridshare.telemetry.store import TelemetryStore
from tests.support.fixtures import empty_tables

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FLEET = 12


def _register(count: int) -> list[str]:
    ids = [f"dev-seg-{i:02d}" for i in range(count)]
    for device_id in ids:
        DeviceModel(
            id=device_id,
            owner_id="owner-1",
            name=device_id,
            type="meter",
            thing_name=f"thing-{device_id}",
            certificate_id="c",
            certificate_arn="arn:aws:iot:us-east-1:123456789012:cert/c",
            created_at=T0,
        ).save()
    return ids


def _ingest(device_ids: list[str]) -> None:
    store = TelemetryStore(ddb=client("dynamodb"))
    for n, device in enumerate(device_ids):
        state = None
        for i in range(9):
            ts = T0 + i * 20 * 60_000 + n * 1_000
            reading = Reading(device_id=device, ts=ts, seq=i, metrics={"energy_import_wh": 1_000 + 70 * i + n})
            new = counter_state(reading, state)
            with clock.frozen(ts):
                store.store(reading, [], state, new, ts)
            state = new


def _job(workers: int) -> RollupJob:
    ddb = client("dynamodb")
    items = RollupItemStore(ddb, RollupModel.Meta.table_name)
    raw = RawStore(ddb, RawReadingModel.Meta.table_name, items)
    return RollupJob(raw=raw, items=items, max_future_ms=300_000, workers=workers)


def _stored(job: RollupJob, devices: list[str]) -> dict[str, Any]:
    return {d: (job.items.hours(d, T0, T0 + DAY_MS), job.items.last_day(d)) for d in devices}


@pytest.mark.usefixtures("aws")
def test_the_registry_segments_cover_every_device_exactly_once() -> None:
    # Given a registry of devices
    ids = _register(FLEET)
    # When it is read in four segments, three ids a page
    seen: list[str] = []
    for index in range(4):
        after: dict[str, Any] | None = None
        while True:
            page, after = device_page(3, after, Segment(index, 4))
            seen.extend(page)
            if after is None:
                break
    # Then every device is in exactly one segment
    assert sorted(seen) == sorted(ids)


@pytest.mark.usefixtures("aws")
def test_segmented_runs_store_what_one_whole_fleet_run_stores() -> None:
    # Given a fleet with three hours of readings each
    ids = _register(FLEET)
    _ingest(ids)
    now = T0 + 5 * HOUR_MS
    # When the job runs over the whole fleet, one device at a time
    whole = _job(workers=1)
    assert whole.run(max_devices=100, now=now)["devices"] == FLEET
    expected = _stored(whole, ids)
    assert all(hours for hours, _ in expected.values())
    # And, on empty rollups, in three segments, two devices an invocation, four at once, each until its pass ends
    for item in RollupModel.scan():
        item.delete()
    segmented = _job(workers=4)
    visits: list[int] = []
    for index in range(3):
        while True:
            result = segmented.run(Segment(index, 3), max_devices=2, now=now)
            visits.append(result["devices"])
            if result["passComplete"]:
                break
    # Then the segments together visited every device once, in bounded invocations
    assert sum(visits) == FLEET and max(visits) <= 2
    # And stored the same hours and days
    assert _stored(segmented, ids) == expected
    # And the readers give the same numbers as from raw
    from_raw = RawStore(client("dynamodb"), RawReadingModel.Meta.table_name)
    for device in ids[:3]:
        for resolution in RESOLUTIONS:
            stored = segmented.raw.rollups(device, resolution, T0, T0 + DAY_MS, 1000, None)
            assert stored == from_raw.rollups(device, resolution, T0, T0 + DAY_MS, 1000, None)


def _segment_ids(segment: Segment) -> list[str]:
    ids, after = device_page(1000, None, segment)
    assert after is None
    return ids


@pytest.mark.usefixtures("aws")
def test_a_changed_segmentation_starts_each_segment_over() -> None:
    # Given a cursor saved halfway through the pass of a segment of two (one with several devices)
    empty_tables()
    _register(FLEET)
    job = _job(workers=2)
    index = max(range(2), key=lambda i: len(_segment_ids(Segment(i, 2))))
    first = job.run(Segment(index, 2), max_devices=1, now=T0 + HOUR_MS)
    assert first["devices"] == 1 and not first["passComplete"]
    assert job.items.cursor(index, 2) is not None
    # When the job is re-deployed with three segments
    # Then that segment number starts from the beginning of its new segment, not from the old cursor
    assert job.items.cursor(index, 3) is None
    again = job.run(Segment(index, 3), max_devices=100, now=T0 + HOUR_MS)
    assert again["passComplete"] and again["devices"] == len(_segment_ids(Segment(index, 3)))
