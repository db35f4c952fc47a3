"""Notification routes: the caller's preferences and push tokens, the in-app inbox (docs/notifications.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.no_content import NO_CONTENT
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller
from gridshare.notifications.service import notifications_service

if TYPE_CHECKING:
    from gridshare.notifications.requests import InboxQuery, PreferencesIn, PushTokenIn

api = ApiBlueprint("notifications")


@api.route(
    "/v1/me/notification-preferences",
    "GET",
    roles=ANY_ROLE,
    response="Envelope[NotificationPreferences]",
    summary="Your notification preferences (the defaults until you save some)",
)
def get_preferences(caller: Caller) -> dict:
    return {"data": notifications_service().preferences(caller.user_id)}


@api.route(
    "/v1/me/notification-preferences",
    "PUT",
    roles=ANY_ROLE,
    body="PreferencesIn",
    response="Envelope[NotificationPreferences]",
    summary="Replace your notification preferences (channels, phone, minimum severity, quiet hours)",
)
def put_preferences(caller: Caller, body: PreferencesIn) -> dict:
    document = body.model_dump(mode="json", by_alias=True)
    return {"data": notifications_service().set_preferences(caller.user_id, document)}


@api.route(
    "/v1/me/push-tokens",
    "POST",
    roles=ANY_ROLE,
    body="PushTokenIn",
    status=201,
    response="Envelope[PushToken]",
    errors=(409, 503),  # the token is another account's, or too many; the platform is not configured
    summary="Register a mobile app's push token (an SNS platform endpoint); the same token again is a no-op",
)
def add_push_token(caller: Caller, body: PushTokenIn) -> dict:
    return {"data": notifications_service().register_push_token(caller.user_id, body.platform, body.token)}


@api.route(
    "/v1/me/push-tokens/{id}",
    "DELETE",
    roles=ANY_ROLE,
    status=204,
    response=NO_CONTENT,
    summary="Remove one of your push tokens (and its SNS endpoint)",
)
def delete_push_token(caller: Caller, id: str) -> None:  # noqa: A002 - the path parameter
    notifications_service().delete_push_token(caller.user_id, id)


@api.route(
    "/v1/notifications",
    "GET",
    roles=ANY_ROLE,
    query="InboxQuery",
    response="Page[InboxEntry]",
    summary="Your in-app notifications: unread first, newest first within each",
)
def list_notifications(caller: Caller, query: InboxQuery) -> dict:
    items, cursor = notifications_service().notifications(caller.user_id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/notifications/{id}/read",
    "POST",
    roles=ANY_ROLE,
    response="Envelope[InboxEntry]",
    summary="Mark one of your notifications read (again: no change)",
)
def read_notification(caller: Caller, id: str) -> dict:  # noqa: A002 - the path parameter
    return {"data": notifications_service().mark_read(caller.user_id, id)}
