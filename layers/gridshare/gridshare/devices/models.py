"""The devices context's tables: the device registry, the commands sent to devices, their certificates."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class DevicesByOwner(GlobalSecondaryIndex["DeviceModel"]):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class DevicesByThing(GlobalSecondaryIndex["DeviceModel"]):
    class Meta:
        index_name = "by_thing"
        projection = AllProjection()

    thing_name = UnicodeAttribute(hash_key=True)


class OnlineDevices(GlobalSecondaryIndex["DeviceModel"]):
    """Sparse: only devices currently `online` carry `online`, keyed by the deadline after which the
    offline schedule marks them offline (gridshare.devices.health), earliest first. One partition holds
    every online device; shard the key if the fleet outgrows one partition's throughput."""

    class Meta:
        index_name = "online_by_deadline"
        projection = AllProjection()

    online = UnicodeAttribute(hash_key=True)
    offline_at = NumberAttribute(range_key=True)


class DeviceModel(Model):
    class Meta(TableMeta):
        logical_name = "devices"

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    thing_name = UnicodeAttribute()
    certificate_id = UnicodeAttribute()
    certificate_arn = UnicodeAttribute()
    status = UnicodeAttribute(default="provisioned")
    created_at = NumberAttribute()
    decommissioned_at = NumberAttribute(null=True)  # set by DELETE /v1/devices/{id}; the record is kept
    # The desired calibration (gridshare.devices.config), applied at ingest; null = none.
    calibration = JSONAttribute(null=True)
    # From the shadow's reported state (gridshare.devices.config_service); null until the device reports it.
    firmware_version = UnicodeAttribute(null=True)
    # Health (gridshare.devices.health): absent until the first message, then "online" | "offline".
    health = UnicodeAttribute(null=True)
    health_changed_at = NumberAttribute(null=True)
    last_seen_at = NumberAttribute(null=True)  # written at a granularity, not on every message
    offline_after_s = NumberAttribute(null=True)  # null: health.DEFAULT_OFFLINE_AFTER_S
    online = UnicodeAttribute(null=True)  # "online" while online (OnlineDevices), else absent
    offline_at = NumberAttribute(null=True)  # last_seen_at + offline_after_s, while online
    metadata = JSONAttribute(null=True)  # the owner's small string map (PATCH /v1/devices/{id})
    by_owner = DevicesByOwner()
    by_thing = DevicesByThing()
    online_by_deadline = OnlineDevices()


class OpenCommands(GlobalSecondaryIndex["CommandModel"]):
    """Sparse: only commands still `sent` carry `open`, so the expiry schedule reads just those, oldest
    deadline first. One partition ("sent") holds every open command: fine while commands are few per
    minute; shard the key (e.g. by the id's last character) if that stops being true."""

    class Meta:
        index_name = "open_by_deadline"
        projection = AllProjection()

    open = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute(range_key=True)


class CommandModel(Model):
    """A command sent to a device (gridshare.devices.commands.Command); ids are ULIDs, so a device's
    commands sort newest first with scan_index_forward=False."""

    class Meta(TableMeta):
        logical_name = "device_commands"

    device_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    params = JSONAttribute()
    status = UnicodeAttribute()
    issued_at = NumberAttribute()
    expires_at = NumberAttribute()
    completed_at = NumberAttribute(null=True)
    result = JSONAttribute(null=True)
    late_ack = JSONAttribute(null=True)
    open = UnicodeAttribute(null=True)  # "sent" while the command waits for its ack (OpenCommands)
    purge_at = TTLAttribute(null=True)  # DynamoDB deletes the item RETENTION_S after it was issued
    open_by_deadline = OpenCommands()


class CertificateModel(Model):
    """A device's certificate (gridshare.devices.certificates.Certificate): one row per certificate ever
    issued to it, revoked ones kept. Never the PEM or a key: the certificate is returned once, at issuance."""

    class Meta(TableMeta):
        logical_name = "device_certificates"

    device_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)  # IoT's certificate id
    arn = UnicodeAttribute()
    status = UnicodeAttribute()  # active | revoked
    created_at = NumberAttribute()
    expires_at = NumberAttribute(null=True)
    revoked_at = NumberAttribute(null=True)


class StatusChangeModel(Model):
    """One health transition of a device; `key` = zero-padded epoch ms + "#" + ULID, so a device's
    transitions sort newest first with scan_index_forward=False and never collide."""

    class Meta(TableMeta):
        logical_name = "device_status_history"

    device_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    at = NumberAttribute()
    status = UnicodeAttribute()
    previous = UnicodeAttribute()
    last_seen_at = NumberAttribute(null=True)
    purge_at = TTLAttribute(null=True)


class StatusCountModel(Model):
    """How many devices have one type and status (`key` = "{type}#{status}"): the fleet stats read these
    few items instead of the devices table. Provisioning and every transition change them in the same
    transaction as the device."""

    class Meta(TableMeta):
        logical_name = "device_status_counts"

    key = UnicodeAttribute(hash_key=True)
    devices = NumberAttribute(default=0)


TABLES: tuple[type[Model], ...] = (DeviceModel, CommandModel, CertificateModel, StatusChangeModel, StatusCountModel)
# Dead letters (malformed command acks) live beside their writer and reader.
from gridshare.devices.dead_letters import DeviceDeadLetterModel  # noqa: E402

TABLES += (DeviceDeadLetterModel,)
