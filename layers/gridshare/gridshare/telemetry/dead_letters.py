"""Dead-letter store for rejected device messages (never silently dropped)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from pynamodb.exceptions import DoesNotExist

from gridshare.kernel import ids
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.telemetry.models import DeadLetterModel, ReasonMap
from gridshare.telemetry.readings import Reason


def dead_letter_id(thing_name: str, payload: bytes, received_at: int) -> str:
    """A ULID whose time is the arrival and whose randomness is a hash of the message.

    A redelivered message (same thing, bytes and arrival stamp from the rule) gets the same id, so
    dead-lettering is idempotent; ids still sort by arrival.
    """
    digest = hashlib.sha256(thing_name.encode() + b"\x00" + payload).digest()[:10]
    return ids.from_parts(received_at, digest)


class DeadLetterStore:
    def put(
        self,
        *,
        thing_name: str | None,
        device_id: str | None,
        topic: str | None,
        payload: bytes,
        received_at: int,
        reasons: list[Reason],
    ) -> str:
        letter_id = dead_letter_id(thing_name or "", payload, received_at)
        DeadLetterModel(
            id=letter_id,
            status="open",
            thing_name=thing_name,
            device_id=device_id,
            topic=topic,
            payload=base64.b64encode(payload).decode(),
            received_at=received_at,
            reasons=[ReasonMap(field=r.field, message=r.message) for r in reasons],
        ).save()
        return letter_id

    def get(self, letter_id: str) -> DeadLetterModel | None:
        try:
            return DeadLetterModel.get(letter_id)
        except DoesNotExist:
            return None

    def list(
        self, status: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[DeadLetterModel], dict[str, Any] | None]:
        result = DeadLetterModel.by_status.query(
            status, limit=limit, last_evaluated_key=start, scan_index_forward=False
        )
        items = list(result)
        return items, result.last_evaluated_key

    def mark_replayed(self, letter: DeadLetterModel) -> None:
        letter.update(
            actions=[
                DeadLetterModel.status.set("replayed"),
                DeadLetterModel.replayed_at.set(now_ms()),
                DeadLetterModel.replay_attempts.add(1),
            ]
        )

    def record_failed_replay(self, letter: DeadLetterModel, reasons: list[Reason]) -> None:
        letter.update(
            actions=[
                DeadLetterModel.replay_attempts.add(1),
                DeadLetterModel.reasons.set([ReasonMap(field=r.field, message=r.message) for r in reasons]),
            ]
        )


def dead_letter_view(letter: DeadLetterModel) -> dict[str, Any]:
    payload = base64.b64decode(letter.payload)
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {
        "id": letter.id,
        "status": letter.status,
        "thingName": letter.thing_name,
        "deviceId": letter.device_id,
        "topic": letter.topic,
        "payload": text,
        "payloadBase64": letter.payload,
        "reasons": [{"field": r.field, "message": r.message} for r in letter.reasons],
        "receivedAt": to_iso(int(letter.received_at)),
        "replayedAt": to_iso(int(letter.replayed_at)) if letter.replayed_at else None,
        "replayAttempts": int(letter.replay_attempts or 0),
    }
