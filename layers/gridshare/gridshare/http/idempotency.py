"""Client ``Idempotency-Key`` for money requests: a retry gets the first answer, never a second effect.

A request that carries ``Idempotency-Key: <key>`` is recorded under ``<user>:<METHOD path>:<key>`` with
the hash of its parsed body (conditional put, so concurrent duplicates cannot both start):

- the same key and the same body again -> the first response (status and body), marked replayed;
- the same key with another body -> :class:`IdempotencyKeyReused`, **422** (the key is the client's
  mistake, like a malformed field; Stripe answers 400 for it);
- the same key while the first request is still running -> :class:`RequestInProgress`, 409; retry later.

Outcomes that are not a response: a refusal (any 4xx problem: nothing was done, by construction of each
operation) releases the key, so the client may retry the same key once it fixed the cause (e.g. topped
up before withdrawing again). A failure whose outcome is unknown (503, a crash, a timeout) keeps the key
marked interrupted: the next retry runs the operation again **with the same ids**.

That last point is what makes a resumed run safe: the operation gets a :class:`RequestIds` whose ids are
derived from the key and the record's creation time (ULIDs: the time part is the record's, the random
part a hash of key and purpose), so every run of one key creates the same payment, withdrawal or refund
id, hence the same ledger transaction ids and Stripe idempotency keys, and each downstream write is a
no-op the second time. Without a key every request gets fresh ids: two requests are two operations.

Records expire after 24 h (DynamoDB TTL), like Stripe's own idempotency keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from gridshare.kernel import errors, ids
from gridshare.kernel.clock import now_ms
from gridshare.kernel.ids import new_id
from gridshare.kernel.tables import TableMeta, failed_condition

__all__ = [
    "HEADER",
    "MAX_KEY_LENGTH",
    "REPLAYED_HEADER",
    "IdempotencyKeyReused",
    "IdempotentOutcome",
    "RequestIds",
    "RequestInProgress",
    "run_idempotent",
]

logger = logging.getLogger("gridshare.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"  # "true" on a response that replays the first one
TTL_MS = 24 * 3600 * 1000
IN_PROGRESS_MS = 60_000  # longer than any API Lambda runs: after that the first run is dead
INTERRUPTED = 0  # `status` of a record whose run failed with an unknown outcome
MAX_KEY_LENGTH = 255


class IdempotencyKeyModel(Model):
    """Client Idempotency-Key per user and route: the same key and body replays the first response;
    the same key with another body is refused."""

    class Meta(TableMeta):
        logical_name = "idempotency_keys"

    key = UnicodeAttribute(hash_key=True)  # <user>:<route>:<client key>
    body_hash = UnicodeAttribute()
    status = NumberAttribute(null=True)
    response = UnicodeAttribute(null=True)  # JSON of the first response
    created_at = NumberAttribute()
    expires_at = TTLAttribute()


class IdempotencyKeyReused(errors.InvalidInput):
    """The key was used for this route with a different body (422)."""

    def __init__(self) -> None:
        detail = "This Idempotency-Key was already used with a different request body; use a new key."
        super().__init__(detail, errors=[errors.FieldError(HEADER, detail)])


class RequestInProgress(errors.Conflict):
    """A request with this key is still running (409)."""

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still in progress; retry it shortly.")


@dataclass(frozen=True)
class RequestIds:
    """Ids for one operation: fresh ULIDs, or (with an idempotency key) the same ones on every run."""

    seed: str | None = None
    at_ms: int = 0

    def new(self, purpose: str) -> str:
        if self.seed is None:
            return new_id()
        randomness = hashlib.sha256(f"{self.seed}\n{purpose}".encode()).digest()[:10]
        return ids.from_parts(self.at_ms, randomness)

    @property
    def keyed(self) -> bool:
        return self.seed is not None


@dataclass(frozen=True)
class IdempotentOutcome:
    status: int
    body: str  # JSON, byte-identical on every replay
    replayed: bool


Operation = Callable[[RequestIds], tuple[int, dict[str, Any]]]


def _canonical_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_key(client_key: str) -> None:
    if not 1 <= len(client_key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in client_key):
        raise errors.InvalidInput(
            "The Idempotency-Key must be 1 to 255 printable ASCII characters.",
            errors=[errors.FieldError(HEADER, "1 to 255 printable ASCII characters")],
        )


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz=UTC)


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, default=str)


def run_idempotent(
    user_id: str,
    route: str,
    client_key: str | None,
    body: Any,
    operation: Operation,
    *,
    clock: Callable[[], int] = now_ms,
) -> IdempotentOutcome:
    """Run ``operation`` at most once per (user, route, key) and body; see the module docstring.

    ``route`` is the method and the concrete path (``POST /v1/admin/withdrawals/<id>/approve``), so a key
    is scoped to one object; ``body`` is the parsed request body (any JSON-able value, None for none).
    """
    if client_key is None:
        status, document = operation(RequestIds())
        return IdempotentOutcome(status, _dump(document), replayed=False)
    _check_key(client_key)
    key = f"{user_id}:{route}:{client_key}"
    body_hash = _canonical_hash(body)
    now = clock()
    record = IdempotencyKeyModel(key=key, body_hash=body_hash, created_at=now, expires_at=_at(now + TTL_MS))
    try:
        # A record past its expiry may linger until DynamoDB's TTL sweep deletes it: it counts as absent.
        record.save(condition=IdempotencyKeyModel.key.does_not_exist() | (IdempotencyKeyModel.expires_at < _at(now)))
        started_at = now
    except PutError as exc:
        if not failed_condition(exc):
            raise errors.Unavailable("The request could not be recorded; retry it.") from exc
        try:
            existing = IdempotencyKeyModel.get(key, consistent_read=True)
        except DoesNotExist:  # deleted in between (its run was refused): the client may simply retry
            raise RequestInProgress() from None
        if existing.body_hash != body_hash:
            raise IdempotencyKeyReused() from None
        if existing.status is not None and int(existing.status) != INTERRUPTED:
            return IdempotentOutcome(int(existing.status), existing.response or "", replayed=True)
        if existing.status is None and now - int(existing.created_at) < IN_PROGRESS_MS:
            raise RequestInProgress() from None
        record, started_at = existing, int(existing.created_at)
        logger.info("resuming the interrupted request %s", key)
    ids = RequestIds(seed=key, at_ms=started_at)
    try:
        status, document = operation(ids)
    except errors.GridshareError as exc:
        if isinstance(exc, errors.Unavailable):
            _mark_interrupted(record)
        else:  # refused: nothing was done, the key is free again
            _release(record)
        raise
    except Exception:
        _mark_interrupted(record)
        raise
    text = _dump(document)
    try:
        record.update(actions=[IdempotencyKeyModel.status.set(status), IdempotencyKeyModel.response.set(text)])
    except UpdateError:
        # The operation is done; the key just won't replay (a retry re-runs it, harmlessly, with the same ids).
        logger.exception("could not store the response of %s", key)
    return IdempotentOutcome(status, text, replayed=False)


def _mark_interrupted(record: IdempotencyKeyModel) -> None:
    try:
        record.update(actions=[IdempotencyKeyModel.status.set(INTERRUPTED)])
    except Exception:  # noqa: BLE001 - the original error matters more; a stale record resumes after a minute
        logger.exception("could not mark %s interrupted", record.key)


def _release(record: IdempotencyKeyModel) -> None:
    try:
        record.delete(condition=IdempotencyKeyModel.created_at == record.created_at)
    except DeleteError as exc:
        if not failed_condition(exc):
            logger.exception("could not release %s", record.key)
