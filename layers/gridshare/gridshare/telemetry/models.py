"""The telemetry context's tables: latest readings, raw readings (TTL), rollups, dead letters."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class LatestReadingModel(Model):
    """The newest reading per device, with the counters that validation and rollups compare against."""

    class Meta(TableMeta):
        logical_name = "telemetry_latest"

    device_id = UnicodeAttribute(hash_key=True)
    ts = NumberAttribute()
    seq = NumberAttribute()
    metrics = JSONAttribute()
    counters = JSONAttribute()
    received_at = NumberAttribute()


class RawReadingModel(Model):
    """Raw readings, one partition per device per UTC day, expiring (`expires_at`, DynamoDB TTL) after
    GS_TELEMETRY_RAW_RETENTION_DAYS, archived to S3 before that (gridshare.telemetry.retention).

    The same table holds sequence markers (`<device>#SEQ`, sk = seq) that make ingest idempotent.
    """

    class Meta(TableMeta):
        logical_name = "telemetry_raw"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    ts = NumberAttribute(null=True)
    seq = NumberAttribute(null=True)
    metrics = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class RollupModel(Model):
    """Per device and resolution (`<device>#15m|1h|1d`), one item per bucket start (ms).

    Attributes are written with atomic ADD: `n` (readings), `s_<metric>`/`c_<metric>` (sum and count of
    each gauge, since not every reading carries every metric), and
    `e_<counter>` (interval energy in Wh from counter deltas).
    """

    class Meta(TableMeta):
        logical_name = "telemetry_rollups"

    pk = UnicodeAttribute(hash_key=True)
    bucket = NumberAttribute(range_key=True)
    n = NumberAttribute(default=0)


class ArchivedDayModel(Model):
    """What the archive job copied to S3 (decision 0024): one item per device and archived UTC day (`day`,
    its start in ms), with the object's key, reading count, size and sha256. Items with `device_id`
    `_archive#cursor#<segment>` (day 0) are where each segment's pass continues."""

    class Meta(TableMeta):
        logical_name = "telemetry_archive"

    device_id = UnicodeAttribute(hash_key=True)
    day = NumberAttribute(range_key=True)


class DeadLettersByStatus(GlobalSecondaryIndex["DeadLetterModel"]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ReasonMap(MapAttribute):  # type: ignore[type-arg]
    field = UnicodeAttribute()
    message = UnicodeAttribute()


class DeadLetterModel(Model):
    """A rejected device message with every reason; kept until replayed or discarded by an admin."""

    class Meta(TableMeta):
        logical_name = "telemetry_dead_letters"

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(default="open")  # open | replayed
    thing_name = UnicodeAttribute(null=True)
    device_id = UnicodeAttribute(null=True)
    topic = UnicodeAttribute(null=True)
    payload = UnicodeAttribute()  # base64 of the bytes the device sent
    reasons = ListAttribute(of=ReasonMap)
    received_at = NumberAttribute()
    replayed_at = NumberAttribute(null=True)
    replay_attempts = NumberAttribute(default=0)
    by_status = DeadLettersByStatus()


TABLES: tuple[type[Model], ...] = (
    LatestReadingModel,
    RawReadingModel,
    RollupModel,
    DeadLetterModel,
    ArchivedDayModel,
)
