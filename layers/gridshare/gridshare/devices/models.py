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
    by_owner = DevicesByOwner()
    by_thing = DevicesByThing()


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


TABLES: tuple[type[Model], ...] = (DeviceModel, CommandModel, CertificateModel)
