"""Dead letters of the devices context: device messages it could not use (malformed command acks), kept
with every reason for RETENTION_S, never silently dropped (docs/devices.md).

One table, keyed by the kind of message and a ULID whose time is the arrival and whose randomness is a
hash of the thing and the bytes: a redelivered message (same arrival stamp from the rule) lands on the
same item, and one kind's letters read newest first from one partition. Writers only append (PutItem);
admins and operators list them (`GET /v1/devices/dead-letters`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from gridshare.kernel import ids
from gridshare.kernel.clock import to_iso
from gridshare.kernel.tables import TableMeta

__all__ = ["RETENTION_S", "DeviceDeadLetterModel", "DeviceDeadLetters", "dead_letter_view"]

RETENTION_S = 30 * 86_400
COMMAND_ACK = "command_ack"


class DeadLetterReason(MapAttribute):  # type: ignore[type-arg]
    field = UnicodeAttribute()
    message = UnicodeAttribute()


class DeviceDeadLetterModel(Model):
    class Meta(TableMeta):
        logical_name = "device_dead_letters"

    kind = UnicodeAttribute(hash_key=True)  # command_ack
    id = UnicodeAttribute(range_key=True)
    thing_name = UnicodeAttribute(null=True)
    topic = UnicodeAttribute(null=True)
    payload = UnicodeAttribute()  # base64 of the bytes received
    reasons = ListAttribute(of=DeadLetterReason)
    received_at = NumberAttribute()
    purge_at = TTLAttribute()


def letter_id(thing_name: str, payload: bytes, received_at: int) -> str:
    digest = hashlib.sha256(thing_name.encode() + b"\x00" + payload).digest()[:10]
    return ids.from_parts(received_at % 2**48, digest)


def dead_letter_view(item: DeviceDeadLetterModel) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "thingName": item.thing_name,
        "topic": item.topic,
        "payload": item.payload,
        "reasons": [{"field": r.field, "message": r.message} for r in item.reasons],
        "receivedAt": to_iso(int(item.received_at)),
    }


@dataclass
class DeviceDeadLetters:
    def put(
        self,
        *,
        thing_name: str | None,
        topic: str | None,
        payload: bytes,
        received_at: int,
        reasons: list[tuple[str, str]],
        kind: str = COMMAND_ACK,
    ) -> str:
        item = DeviceDeadLetterModel(
            kind=kind,
            id=letter_id(thing_name or "", payload, received_at),
            thing_name=thing_name,
            topic=topic,
            payload=base64.b64encode(payload).decode(),
            reasons=[DeadLetterReason(field=f, message=m) for f, m in reasons],
            received_at=received_at,
            purge_at=datetime.fromtimestamp(received_at // 1000 + RETENTION_S, tz=UTC),
        )
        item.save()  # PutItem only: a redelivery writes the same item again
        return str(item.id)

    def page(
        self, kind: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[DeviceDeadLetterModel], dict[str, Any] | None]:
        result = DeviceDeadLetterModel.query(kind, limit=limit, last_evaluated_key=start, scan_index_forward=False)
        return list(result), result.last_evaluated_key
