"""Device health, pure (gridshare.devices.health): status, deadline, when a message is written, stats."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gridshare.devices import health as H

limits = st.integers(min_value=H.MIN_OFFLINE_AFTER_S, max_value=H.MAX_OFFLINE_AFTER_S)


def test_status_of_a_stored_device() -> None:
    assert H.device_status(None) == "never_seen"
    assert H.device_status("online") == "online"
    assert H.device_status("offline") == "offline"


def test_the_silence_limit_defaults_to_three_report_intervals_and_is_never_under_30_s() -> None:
    assert H.offline_after_s(None) == 3 * H.DEFAULT_REPORT_INTERVAL_S
    assert H.offline_after_s(5) == 30
    assert H.offline_after_s(3600) == 3600


@given(limits)
def test_the_granularity_is_a_third_of_the_limit_at_most_a_minute(limit_s: int) -> None:
    g = H.write_granularity_ms(limit_s)
    assert 0 < g <= 60_000 and g <= limit_s * 1000 // 3


@given(
    limit_s=limits,
    gaps=st.lists(st.integers(min_value=1, max_value=10 * 86_400_000), min_size=1, max_size=40),
)
def test_a_device_is_never_offline_before_its_limit_nor_later_than_limit_plus_granularity(
    limit_s: int, gaps: list[int]
) -> None:
    # Given a device whose messages arrive after arbitrary gaps, written only when on_message says so
    at, written, health = 0, None, None
    for gap in gaps:
        deadline = H.offline_deadline(written, limit_s) if written is not None else None
        # Then while it is silent, the schedule moves it only after it has been silent longer than its limit
        if deadline is not None:
            assert deadline >= at + limit_s * 1000  # never early
            assert deadline <= at + limit_s * 1000 + H.write_granularity_ms(limit_s)  # at most g late
        at += gap
        if deadline is not None and at > deadline:
            health = "offline"
        action = H.on_message(health, written, at, limit_s)
        if action != "skip":
            written, health = at, "online"
        assert action == "transition" or health == "online"


def test_a_message_from_a_device_not_online_is_always_a_transition() -> None:
    assert H.on_message(None, None, 1_000, 180) == "transition"
    assert H.on_message("offline", 999, 1_000, 180) == "transition"
    assert H.on_message("online", 1_000, 1_000 + 60_000, 180) == "skip"
    assert H.on_message("online", 1_000, 1_000 + 60_001, 180) == "touch"


def test_stats_count_every_type_and_status_and_ignore_negative_or_unknown_counts() -> None:
    stats = H.stats_from_counts(
        {"meter#online": 2, "meter#never_seen": -1, "battery#offline": 1, "toaster#online": 9, "meter#weird": 3},
        ("meter", "battery"),
    )
    assert stats["byType"]["meter"] == {"never_seen": 0, "online": 2, "offline": 0}
    assert stats["byStatus"] == {"never_seen": 0, "online": 2, "offline": 1}
    assert stats["total"] == 3


def test_the_event_names_the_transition() -> None:
    change = H.StatusChange("D1", "U1", "meter", "online", "offline", 10, 5)
    event = H.status_event(change, "t10", "t5")
    assert event["Source"] == "gridshare.devices" and event["DetailType"] == "DeviceStatusChanged"
    assert event["Detail"] == {
        "deviceId": "D1",
        "ownerId": "U1",
        "type": "meter",
        "previous": "online",
        "status": "offline",
        "at": "t10",
        "lastSeenAt": "t5",
    }


def test_the_published_event_has_the_sample_events_shape() -> None:
    from tests.support.events import load_event

    sample = load_event("eventbridge_device_status_changed")
    change = H.StatusChange("D1", "U1", "meter", "online", "offline", 10, 5)
    entry = H.status_event(change, "t10", "t5")
    assert (entry["Source"], entry["DetailType"]) == (sample["source"], sample["detail-type"])
    assert set(entry["Detail"]) == set(sample["detail"])
