"""The notifications context's repositories: preferences, push tokens, the inbox and delivery claims.

Writes that must happen once are conditional puts: an inbox entry's id is derived from (alert, occurrence), so a
redelivered event finds it already there; a delivery is claimed before it is sent (DeliveryClaims).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from gridshare.kernel import errors
from gridshare.kernel.tables import failed_condition
from gridshare.notifications import preferences as P
from gridshare.notifications.models import DeliveryModel, InboxModel, PreferencesModel, PushTokenModel

INBOX_RETENTION_S = 180 * 86_400
CLAIM_RETENTION_S = 14 * 86_400  # longer than any SQS message lives (DLQ retention)
CLAIM_STALE_MS = 120_000  # a `sending` claim older than this was left by a crashed worker: taken over
_MAX_MS = 9_999_999_999_999


def _expiry(at_ms: int, retention_s: int) -> datetime:
    return datetime.fromtimestamp(at_ms // 1000 + retention_s, tz=UTC)


class PreferencesStore:
    def get(self, user_id: str) -> P.Preferences:
        try:
            item = PreferencesModel.get(user_id)
        except DoesNotExist:
            return P.DEFAULT_PREFERENCES
        try:
            return P.from_json(dict(item.document or {}))
        except P.PreferenceError:
            return P.DEFAULT_PREFERENCES  # stored by an older rule: the defaults until the user saves again

    def put(self, user_id: str, prefs: P.Preferences, at_ms: int) -> None:
        PreferencesModel(user_id=user_id, document=P.to_json(prefs), updated_at=at_ms).save()


class PushTokenStore:
    def list(self, user_id: str) -> list[PushTokenModel]:
        return list(PushTokenModel.query(user_id, limit=100))

    def add(self, item: PushTokenModel) -> None:
        item.save(condition=PushTokenModel.id.does_not_exist())

    def get(self, user_id: str, token_id: str) -> PushTokenModel:
        try:
            return PushTokenModel.get(user_id, token_id)
        except DoesNotExist:
            raise errors.NotFound("No such push token.") from None

    def delete(self, item: PushTokenModel) -> None:
        item.delete()


def inbox_id(alert_id: str, occurrence: str) -> str:
    """The same (alert, occurrence) always names the same entry: redeliveries find it."""
    return "n" + hashlib.sha256(f"{alert_id}\x00{occurrence}".encode()).hexdigest()[:25]


def inbox_order(read: bool, created_at: int) -> str:
    return f"{1 if read else 0}#{_MAX_MS - created_at:013d}"


class InboxStore:
    def add(self, item: InboxModel) -> bool:
        """Store the entry unless it exists; False when it did (a redelivery)."""
        item.purge_at = _expiry(int(item.created_at), INBOX_RETENTION_S)
        try:
            item.save(condition=InboxModel.id.does_not_exist())
        except PutError as exc:
            if failed_condition(exc):
                return False
            raise
        return True

    def page(
        self, user_id: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[InboxModel], dict[str, Any] | None]:
        result = InboxModel.by_order.query(user_id, limit=limit, last_evaluated_key=start)
        return list(result), result.last_evaluated_key

    def mark_read(self, user_id: str, entry_id: str, at_ms: int) -> InboxModel:
        try:
            item = InboxModel.get(user_id, entry_id)
        except DoesNotExist:
            raise errors.NotFound("No such notification.") from None
        if item.read_at is None:
            try:
                item.update(
                    actions=[InboxModel.read_at.set(at_ms), InboxModel.order.set(inbox_order(True, item.created_at))],
                    condition=InboxModel.read_at.does_not_exist(),
                )
            except UpdateError as exc:
                if not failed_condition(exc):
                    raise
                item.refresh()
        return item


class DeliveryClaims:
    """At-least-once delivery, sent once: claim (conditional put), send, mark sent; a failed send releases."""

    def claim(self, key: str, at_ms: int) -> bool:
        """True if this worker may send; False if it was sent, or another worker is sending right now."""
        item = DeliveryModel(key=key, status="sending", claimed_at=at_ms, purge_at=_expiry(at_ms, CLAIM_RETENTION_S))
        try:
            item.save(
                condition=DeliveryModel.key.does_not_exist()
                | ((DeliveryModel.status == "sending") & (DeliveryModel.claimed_at < at_ms - CLAIM_STALE_MS))
            )
        except PutError as exc:
            if failed_condition(exc):
                return False
            raise
        return True

    def sent(self, key: str, at_ms: int) -> None:
        DeliveryModel(key=key).update(actions=[DeliveryModel.status.set("sent"), DeliveryModel.sent_at.set(at_ms)])

    def release(self, key: str) -> None:
        try:
            DeliveryModel(key=key).delete(condition=DeliveryModel.status == "sending")
        except DeleteError as exc:
            if not failed_condition(exc):
                raise

    def status(self, key: str) -> str | None:
        try:
            return str(DeliveryModel.get(key, consistent_read=True).status)
        except DoesNotExist:
            return None
