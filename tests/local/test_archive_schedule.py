"""The local stack's archive path (decision 0024): the provisioning creates the archive bucket on moto S3 and
one schedule per job segment, and moving the local clock fires them like any other schedule; the archive
handler, invoked with a segment's input, writes the sealed day to moto S3, read back equal to the raw table and
served by the readings API once the raw readings have expired."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from gridshare.devices.models import DeviceModel
from gridshare.kernel import clock, resources
from gridshare.kernel.aws import client
from gridshare.kernel.roles import Caller
from gridshare.telemetry.archive_job import read_archived
from gridshare.telemetry.models import RawReadingModel
from gridshare.telemetry.readings import Reading
from gridshare.telemetry.retention import DAY_MS, archived_line
from gridshare.telemetry.rollups import counter_state
from gridshare.telemetry.service import TelemetryService
from gridshare.telemetry.store import TelemetryStore, day_key
from gridshare_local.clock import LocalClock
from gridshare_local.lambda_runtime import LambdaContext, load_handler

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, sealed from 2026-01-10T00:00Z (7-day backfill + 1)
NOW = "2026-01-10T00:30:00Z"


def _meter(device_id: str) -> None:
    DeviceModel(
        id=device_id,
        owner_id="owner-1",
        name="meter",
        type="meter",
        thing_name=f"thing-{device_id}",
        certificate_id="c",
        certificate_arn="arn:aws:iot:us-east-1:123456789012:cert/c",
        created_at=T0,
    ).save()
    store = TelemetryStore(ddb=client("dynamodb"))
    state = None
    for i in range(96):
        reading = Reading(device_id=device_id, ts=T0 + i * 900_000, seq=i, metrics={"energy_import_wh": 5 * i})
        new = counter_state(reading, state)
        store.store(reading, [], state, new, T0 + i * 900_000 + 300, uncalibrated={"energy_import_wh": 4 * i})
        state = new


def test_advancing_the_clock_fires_the_archive_segments_and_archives_the_sealed_day(aws: dict[str, str]) -> None:
    # Given a meter with a day of readings, and the schedules the provisioning created from resources.SCHEDULES
    _meter("dev-local-arch")
    spec = next(s for s in resources.SCHEDULES if s.name == "telemetry-archive")
    handlers = {s.name: s.handler for s in resources.SCHEDULES if s.context == "telemetry"}
    invoked: list[tuple[str, dict[str, Any]]] = []

    def invoke(arn: str, event: dict[str, Any]) -> Any:  # the stack's in-process invoker, for telemetry's jobs
        name = arn.rsplit(":", 1)[-1]
        invoked.append((name, event))
        if name in handlers:
            return load_handler(handlers[name])(event, LambdaContext(name))
        return None

    local = LocalClock("us-east-1", invoke_lambda=invoke)
    with clock.frozen(NOW) as frozen:
        local.tick()
        # When the stack's clock moves an hour
        frozen.advance(3600)
        fired = local.tick()
    # Then every segment's schedule fired once, invoking the archive function with its segment
    assert sorted(f for f in fired if f.startswith("default/telemetry-archive")) == sorted(
        f"default/{name}" for name, _ in spec.invocations()
    )
    archive_events = sorted((json.dumps(e, sort_keys=True) for n, e in invoked if n == spec.name))
    assert archive_events == sorted(json.dumps(json.loads(p), sort_keys=True) for _, p in spec.invocations())
    # And the sealed day is in the bucket, read back equal to the raw readings (uncalibrated values too)
    items = client("dynamodb").query(
        TableName=RawReadingModel.Meta.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": day_key("dev-local-arch", T0)}},
    )["Items"]
    archived = read_archived("dev-local-arch", T0)
    assert archived is not None and len(archived) == 96
    assert archived == [archived_line(item) for item in sorted(items, key=lambda item: item["sk"]["S"])]
    assert archived[10]["uncalibrated"] == {"energy_import_wh": 40}
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=aws["GS_TELEMETRY_ARCHIVE_BUCKET"])["Contents"]]
    assert keys == ["raw/date=2026-01-01/device=dev-local-arch/readings.jsonl.gz"]
    assert read_archived("dev-local-arch", T0 + DAY_MS) is None
    # And once the day's raw readings have expired (deleted as DynamoDB's TTL would), the readings API, with the
    # stack's environment, answers the day's raw history from the archive: the same points as before
    service, owner = TelemetryService(), Caller("owner-1", "owner-1", "prosumer", (), 0, "t")
    with clock.frozen(NOW):
        before, _ = service.history(owner, "dev-local-arch", "energy_import_wh", T0, T0 + DAY_MS, "raw", 1000, None)
    for item in items:
        client("dynamodb").delete_item(
            TableName=RawReadingModel.Meta.table_name, Key={"pk": item["pk"], "sk": item["sk"]}
        )
    with clock.frozen(T0 + 40 * DAY_MS):
        after, _ = service.history(owner, "dev-local-arch", "energy_import_wh", T0, T0 + DAY_MS, "raw", 1000, None)
    assert len(before) == 96 and after == before and after[10]["uncalibrated"] == 40


@pytest.mark.parametrize("spec", [s for s in resources.SCHEDULES if s.segments > 1], ids=lambda s: s.name)
def test_a_segmented_spec_is_provisioned_as_one_schedule_per_segment(aws: dict[str, str], spec: Any) -> None:
    scheduler = boto3.client("scheduler")
    for name, payload in spec.invocations():
        target = scheduler.get_schedule(Name=name)["Target"]
        assert target["Arn"].rsplit(":", 1)[-1] == spec.name
        assert json.loads(target["Input"]) == json.loads(payload)
