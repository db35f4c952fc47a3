"""Notifications use cases behind the routes: preferences, push tokens, the inbox (docs/notifications.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.notifications import preferences as P
from gridshare.notifications.channels import PushEndpoints, SnsPushEndpoints
from gridshare.notifications.models import InboxModel, PushTokenModel
from gridshare.notifications.store import InboxStore, PreferencesStore, PushTokenStore

MAX_PUSH_TOKENS = 20  # per user: phones and tablets


def push_token_view(item: PushTokenModel) -> dict[str, Any]:
    return {"id": item.id, "platform": item.platform, "token": item.token, "createdAt": to_iso(int(item.created_at))}


def inbox_view(item: InboxModel) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": item.kind,
        "alertId": item.alert_id,
        "runId": item.run_id,
        "occurrence": item.occurrence,
        "severity": item.severity,
        "title": item.title,
        "message": item.message,
        "deviceId": item.device_id,
        "test": bool(item.test),
        "read": item.read_at is not None,
        "readAt": to_iso(int(item.read_at)) if item.read_at is not None else None,
        "createdAt": to_iso(int(item.created_at)),
    }


def _invalid(exc: P.PreferenceError) -> errors.InvalidInput:
    return errors.InvalidInput(f"{exc.field}: {exc.message}", errors=[errors.FieldError(exc.field, exc.message)])


@dataclass
class NotificationsService:
    preferences_store: PreferencesStore = field(default_factory=PreferencesStore)
    tokens: PushTokenStore = field(default_factory=PushTokenStore)
    inbox: InboxStore = field(default_factory=InboxStore)
    endpoints: PushEndpoints = field(default_factory=SnsPushEndpoints)

    # ------------------------------------------------------------ preferences
    def preferences(self, user_id: str) -> dict[str, Any]:
        return P.to_json(self.preferences_store.get(user_id))

    def set_preferences(self, user_id: str, document: dict[str, Any]) -> dict[str, Any]:
        try:
            prefs = P.from_json(document)
        except P.PreferenceError as exc:
            raise _invalid(exc) from None
        self.preferences_store.put(user_id, prefs, now_ms())
        return P.to_json(prefs)

    # ------------------------------------------------------------ push tokens
    def register_push_token(self, user_id: str, platform: str, token: str) -> dict[str, Any]:
        """Register the token as an SNS platform endpoint; the same token again returns its registration."""
        existing = self.tokens.list(user_id)
        for item in existing:
            if item.platform == platform and item.token == token:
                return push_token_view(item)
        if len(existing) >= MAX_PUSH_TOKENS:
            raise errors.Conflict(f"At most {MAX_PUSH_TOKENS} push tokens; delete one first.")
        arn = self.endpoints.create(platform, token, user_id)
        item = PushTokenModel(
            user_id=user_id, id=new_id(), platform=platform, token=token, endpoint_arn=arn, created_at=now_ms()
        )
        self.tokens.add(item)
        return push_token_view(item)

    def delete_push_token(self, user_id: str, token_id: str) -> None:
        item = self.tokens.get(user_id, token_id)
        if not any(o.endpoint_arn == item.endpoint_arn for o in self.tokens.list(user_id) if o.id != item.id):
            self.endpoints.delete(item.endpoint_arn)
        self.tokens.delete(item)

    # ------------------------------------------------------------ inbox
    def notifications(self, user_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor)
        if start is not None and start.get("user_id", {}).get("S") != user_id:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        items, last = self.inbox.page(user_id, limit, start)
        return [inbox_view(item) for item in items], encode_cursor(last)

    def mark_read(self, user_id: str, entry_id: str) -> dict[str, Any]:
        return inbox_view(self.inbox.mark_read(user_id, entry_id, now_ms()))


notifications_service = ServiceFactory(NotificationsService)
