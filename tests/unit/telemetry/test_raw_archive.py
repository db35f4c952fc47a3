"""Which days a raw history reads from the archive, and the rows it reads (decision 0024), with fake clients."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gridshare.kernel import errors
from gridshare.kernel.deadline import NEVER, Deadline
from gridshare.telemetry.raw_archive import ArchiveDamaged, ArchiveRecord, RawArchive
from gridshare.telemetry.retention import DAY_MS, RetentionPolicy, archive_key, digest, encode_lines
from gridshare.telemetry.store import day_key, raw_sort_key

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
POLICY = RetentionPolicy(raw_retention_days=35, archive_lag_days=8)
LINES = [
    {"ts": T0 + 1_000, "seq": 1, "metrics": {"power_w": 1.5}, "receivedAt": T0 + 1_500},
    {"ts": T0 + 2_000, "seq": 2, "metrics": {"power_w": 2.5}, "uncalibrated": {"power_w": 2.0}},
    {"ts": T0 + 3_000, "seq": 3, "metrics": {"power_w": 3.5}},
]
BODY = encode_lines(LINES)


class FakeDynamo:
    """BatchGetItem over a dict of records; the first `unprocessed` answers leave every key unprocessed."""

    def __init__(self, days: list[int], unprocessed: int = 0) -> None:
        self.days, self.unprocessed, self.calls = set(days), unprocessed, []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        ((table, request),) = RequestItems.items()
        self.calls.append([int(k["day"]["N"]) for k in request["Keys"]])
        if self.unprocessed:
            self.unprocessed -= 1
            return {"Responses": {table: []}, "UnprocessedKeys": {table: request}}
        items = [
            {"day": k["day"], "key": {"S": archive_key("dev", int(k["day"]["N"]))}, "sha256": {"S": digest(BODY)}}
            for k in request["Keys"]
            if int(k["day"]["N"]) in self.days
        ]
        return {"Responses": {table: items}}


class FakeS3:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}


def _archive(days: list[int], *, unprocessed: int = 0, objects: dict[str, bytes] | None = None) -> RawArchive:
    objects = {archive_key("dev", day): BODY for day in days} if objects is None else objects
    return RawArchive(FakeDynamo(days, unprocessed), FakeS3(objects), "archive", "bucket", POLICY)


def test_only_sealed_days_are_asked_for_in_one_batch_and_recent_ones_not_at_all() -> None:
    now = T0 + 40 * DAY_MS
    archive = _archive([T0, T0 + DAY_MS])
    days = [T0 + d * DAY_MS for d in range(40)]
    archived = archive.days("dev", days, now)
    # one request, for the days sealed at `now` (8 days' lag + the day itself) and no later
    assert archive.ddb.calls == [days[:32]]
    assert archived.holds(T0) and archived.holds(T0 + DAY_MS) and not archived.holds(T0 + 2 * DAY_MS)
    # a history of recent days reads no record at all
    recent = _archive([])
    assert not recent.days("dev", days[-8:], now).records and recent.ddb.calls == []


@pytest.mark.parametrize(("now", "replaced"), [(T0 + 35 * DAY_MS - 1, False), (T0 + 35 * DAY_MS, True)])
def test_an_archived_day_replaces_its_partition_once_its_first_reading_may_have_expired(
    now: int, replaced: bool
) -> None:
    archived = _archive([T0]).days("dev", [T0], now)
    assert archived.holds(T0) and archived.replaces(T0) is replaced


def test_unprocessed_keys_are_asked_again_until_the_deadline() -> None:
    archive = _archive([T0], unprocessed=2)
    assert archive.days("dev", [T0], T0 + 40 * DAY_MS, deadline=NEVER).holds(T0)
    assert len(archive.ddb.calls) == 3
    with pytest.raises(errors.Unavailable):
        _archive([T0], unprocessed=1).days("dev", [T0], T0 + 40 * DAY_MS, deadline=Deadline(0))


def test_rows_are_the_partitions_rows_after_low_up_to_high() -> None:
    archived = _archive([T0]).days("dev", [T0], T0 + 40 * DAY_MS)
    pk = day_key("dev", T0)
    # Given a page resuming after the first reading, up to the second
    rows = archived.rows(T0, raw_sort_key(T0 + 1_000, 1), raw_sort_key(T0 + 2_000, 2))
    # Then only the second comes, with its uncalibrated values and its partition position
    assert rows == [
        {
            "ts": T0 + 2_000,
            "seq": 2,
            "metrics": {"power_w": 2.5},
            "uncalibrated": {"power_w": 2.0},
            "_key": f"{pk}|{raw_sort_key(T0 + 2_000, 2)}",
        }
    ]
    everything = archived.rows(T0, f"{T0:013d}#", raw_sort_key(T0 + DAY_MS - 1, 9_999_999_999))
    assert [row["seq"] for row in everything] == [1, 2, 3] and "receivedAt" not in everything[0]
    assert archived.rows(T0 + DAY_MS, "", "~") == []  # a day without a record


@pytest.mark.parametrize(("objects", "message"), [({}, "has no object"), (None, "does not match")])
def test_a_missing_or_altered_object_is_an_error(objects: dict[str, bytes] | None, message: str) -> None:
    altered = {archive_key("dev", T0): encode_lines(LINES[:1])}
    archive = _archive([T0], objects=altered if objects is None else objects)
    with pytest.raises(ArchiveDamaged, match=message):
        archive.readings(ArchiveRecord(archive_key("dev", T0), digest(BODY)))
