"""Notification preferences, push tokens and the inbox through the API, against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from gridshare.notifications.notifier import Notifier, parse_alert_event
from tests.support.api import Api, register_user
from tests.support.notifications import alert, alert_detail


class ListQueue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, messages: list[dict[str, Any]]) -> None:
        self.sent.extend(messages)


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _endpoints() -> dict[str, Any]:
    return dict(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints)


def test_preferences_default_then_saved(api: Api) -> None:
    token = register_user(api, "prefs@example.com")["accessToken"]
    # Given a user who saved nothing: the defaults
    assert _data(api.call("GET", "/v1/me/notification-preferences", token=token)) == {
        "email": True,
        "sms": False,
        "push": True,
        "phone": None,
        "minSeverity": "info",
        "quietHours": None,
    }
    # When they save a phone, SMS on, warnings and up, quiet nights in Berlin
    wanted = {
        "email": False,
        "sms": True,
        "push": True,
        "phone": "+4915123456789",
        "minSeverity": "warning",
        "quietHours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
    }
    saved = api.call("PUT", "/v1/me/notification-preferences", wanted, token=token)
    # Then they are answered and read back as saved
    assert saved.status_code == 200 and _data(saved) == wanted
    assert _data(api.call("GET", "/v1/me/notification-preferences", token=token)) == wanted
    # And another user still has the defaults
    other = register_user(api, "other-prefs@example.com")["accessToken"]
    assert _data(api.call("GET", "/v1/me/notification-preferences", token=other))["phone"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "0151 2345678"}, "phone"),
        ({"phone": "+12"}, "phone"),
        ({"sms": True}, "phone"),
        ({"minSeverity": "urgent"}, "minSeverity"),
        ({"quietHours": {"start": "25:00", "end": "07:00", "timezone": "UTC"}}, "quietHours.start"),
        ({"quietHours": {"start": "22:00", "end": "0700", "timezone": "UTC"}}, "quietHours.end"),
        ({"quietHours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Atlantis"}}, "quietHours.timezone"),
        ({"quietHours": {"start": "22:00", "end": "07:00"}}, "quietHours.timezone"),
        ({"email": "yes please"}, "email"),
    ],
)
def test_invalid_preferences_are_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    token = register_user(api, "bad-prefs@example.com")["accessToken"]
    response = api.call("PUT", "/v1/me/notification-preferences", body, token=token)
    assert response.status_code == 422, response.body
    assert field in [e["field"] for e in json.loads(response.body)["errors"]]


def test_push_tokens_are_sns_platform_endpoints(api: Api) -> None:
    token = register_user(api, "push@example.com")["accessToken"]
    other = register_user(api, "push-other@example.com")["accessToken"]
    # When the app registers its FCM token
    created = api.call("POST", "/v1/me/push-tokens", {"platform": "fcm", "token": "fcm-token-123456"}, token=token)
    assert created.status_code == 201, created.body
    registered = _data(created)
    # Then an SNS endpoint exists for it on the FCM application, and registering again changes nothing
    endpoints = [e for e in _endpoints().values() if e.token == "fcm-token-123456"]
    assert len(endpoints) == 1 and endpoints[0].application.platform == "GCM"
    again = api.call("POST", "/v1/me/push-tokens", {"platform": "fcm", "token": "fcm-token-123456"}, token=token)
    assert _data(again)["id"] == registered["id"] and len(_endpoints()) == 1
    # And an unknown platform is a 422
    assert (
        api.call("POST", "/v1/me/push-tokens", {"platform": "sms", "token": "x" * 10}, token=token).status_code == 422
    )
    # When another user deletes it: 404; when its owner does: gone, endpoint too
    assert api.call("DELETE", f"/v1/me/push-tokens/{registered['id']}", token=other).status_code == 404
    assert api.call("DELETE", f"/v1/me/push-tokens/{registered['id']}", token=token).status_code == 204
    assert _endpoints() == {}
    assert api.call("DELETE", f"/v1/me/push-tokens/{registered['id']}", token=token).status_code == 404


def test_inbox_lists_unread_first_and_pages(api: Api) -> None:
    login = register_user(api, "inbox@example.com")
    token, user = login["accessToken"], login["user"]["id"]
    notifier = Notifier(queue=ListQueue())
    titles = [f"alert {i}" for i in range(5)]
    for title in titles:
        notifier.fan_out(parse_alert_event("AlertOpened", alert_detail(user, alert(title=title))))
    # A redelivered event does not add an entry
    first = api.call("GET", "/v1/notifications", token=token)
    entries = _data(first)
    assert len(entries) == 5 and all(not e["read"] for e in entries)
    # When the oldest is read, it goes last; the unread stay first (newest first)
    oldest = next(e for e in entries if e["title"] == "alert 0")
    read = api.call("POST", f"/v1/notifications/{oldest['id']}/read", token=token)
    assert read.status_code == 200 and _data(read)["read"] is True and _data(read)["readAt"]
    listed = _data(api.call("GET", "/v1/notifications", token=token))
    assert listed[-1]["id"] == oldest["id"] and [e["read"] for e in listed] == [False] * 4 + [True]
    # Pages of two cover all five once
    seen: list[str] = []
    cursor = None
    while True:
        path = "/v1/notifications?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = json.loads(api.call("GET", path, token=token).body)
        seen.extend(e["id"] for e in body["data"])
        cursor = body["pagination"]["nextCursor"]
        if not cursor:
            break
    assert seen == [e["id"] for e in listed]
    # Another user's entry is a 404, and their inbox is empty
    other = register_user(api, "inbox-other@example.com")["accessToken"]
    assert api.call("POST", f"/v1/notifications/{oldest['id']}/read", token=other).status_code == 404
    assert _data(api.call("GET", "/v1/notifications", token=other)) == []
