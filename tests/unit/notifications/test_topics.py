"""WebSocket topics (gridshare.notifications.topics)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.notifications import topics as T

device_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(device=device_ids, kind=st.sampled_from(["readings", "status"]), user=device_ids)
def test_a_device_topic_is_its_own_subject_whoever_subscribes(device: str, kind: str, user: str) -> None:
    topic = T.parse_topic(f"devices/{device}/{kind}")
    assert topic.device_id == device
    assert topic.subject(user) == f"devices/{device}/{kind}"
    assert topic.subject(user) == (T.readings_subject(device) if kind == "readings" else T.status_subject(device))


@given(user=device_ids, other=device_ids)
def test_user_topics_are_the_users_own(user: str, other: str) -> None:
    for name in ("alerts", "commands", "market", "settlement"):
        topic = T.parse_topic(name)
        assert topic.device_id is None
        assert topic.subject(user) == T.user_subject(name, user)
        assert (topic.subject(user) == topic.subject(other)) == (user == other)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "alert",
        "devices//readings",
        "devices/a/b/readings",
        "devices/x/temperature",
        "devices/../status",
        3,
        None,
        "devices/" + "x" * 65 + "/status",
        "markets",
        "market/trades",
        "Market",
    ],
)
def test_unknown_topics_are_refused(value: object) -> None:
    with pytest.raises(T.TopicError):
        T.parse_topic(value)


def test_alert_event_types_map_to_two_messages() -> None:
    assert T.alert_message_type("AlertOpened") == "alert.opened"
    for kind in ("AlertUpdated", "AlertReminder", "AlertEscalated"):
        assert T.alert_message_type(kind) == "alert.updated"
    assert T.server_message("reading", {"a": 1}, "2026-01-01T00:00:00.000Z") == {
        "type": "reading",
        "data": {"a": 1},
        "ts": "2026-01-01T00:00:00.000Z",
    }


def test_the_market_topic_is_a_user_topic_with_its_two_messages() -> None:
    topic = T.parse_topic("market")
    assert (topic.name, topic.device_id, topic.subject("u1")) == ("market", None, "market@u1")
    assert T.user_subject("market", "u1") == "market@u1"
    assert {"trade.executed", "order.updated", "settlement.completed", "settlement.failed"} <= set(T.MESSAGE_TYPES)
