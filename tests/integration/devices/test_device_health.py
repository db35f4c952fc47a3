"""Device health through the API, the ingest and heartbeat Lambdas and the offline schedule, against moto:
online/offline transitions, status history, the list filter, fleet stats, PATCH, and what a reading costs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridshare.devices import health_events
from gridshare.devices.health import StatusChange
from gridshare.devices.health_service import MEMO_TTL_MS, HealthService, health_service
from gridshare.devices.health_store import HealthState, HealthStore
from gridshare.kernel import clock
from gridshare_local.lambda_runtime import LambdaContext
from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device, deliver_heartbeat, ingest


class RecordingPublisher:
    def __init__(self) -> None:
        self.changes: list[StatusChange] = []

    def publish(self, change: StatusChange) -> None:
        self.changes.append(change)


class CountingStore(HealthStore):
    """Counts the DynamoDB requests the health path makes (docs/devices.md, "what a reading costs")."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"get": 0, "touch": 0, "transition": 0}

    def get(self, device_id: str) -> HealthState | None:
        self.calls["get"] += 1
        return super().get(device_id)

    def touch(self, state: HealthState, at: int) -> bool:
        self.calls["touch"] += 1
        return super().touch(state, at)

    def transition(self, state: HealthState, to: Any, at: int, last_seen_at: int | None) -> StatusChange | None:
        self.calls["transition"] += 1
        return super().transition(state, to, at, last_seen_at)


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _reading(at: int, seq: int) -> str:
    return json.dumps({"ts": at, "seq": seq, "metrics": {"power_w": 100.0}})


def _get(api: Api, token: str, device_id: str) -> dict[str, Any]:
    response = api.call("GET", f"/v1/devices/{device_id}", token=token)
    assert response.status_code == 200, response.body
    return dict(_data(response))


def _sweep() -> dict[str, Any]:
    return health_events.sweep_handler({}, LambdaContext("offline-sweep"))


def _admin(api: Api) -> str:
    create_admin()
    login = api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"})
    return str(_data(login)["accessToken"])


@pytest.fixture
def events() -> Any:
    publisher = RecordingPublisher()
    with health_service.override(HealthService(events=publisher)):
        yield publisher


def test_a_silent_device_goes_offline_and_its_next_message_brings_it_back(api: Api, events: RecordingPublisher) -> None:
    token = register_user(api, "owner@example.com")["accessToken"]
    with clock.frozen() as frozen:
        # Given a new meter: never seen, default limit 180 s
        meter = create_device(api, token)
        assert meter["status"] == "never_seen" and meter["lastSeenAt"] is None and meter["offlineAfterS"] == 180
        # When it reports a reading
        t0 = frozen.advance(1)
        assert ingest(meter["thingName"], _reading(t0, 1), received_at=t0) == {"batchItemFailures": []}
        # Then it is online, seen then
        device = _get(api, token, meter["id"])
        assert device["status"] == "online" and device["lastSeenAt"] == clock.to_iso(t0)
        # And the schedule leaves it alone while it is within its limit
        frozen.advance(180)
        assert _sweep() == {"offline": 0}
        # When it stays silent longer than its limit (plus the write granularity)
        frozen.advance(61)
        assert _sweep() == {"offline": 1}
        t_off = clock.now_ms()
        # Then it is offline
        assert _get(api, token, meter["id"])["status"] == "offline"
        assert _sweep() == {"offline": 0}
        # When it sends a heartbeat
        t1 = frozen.advance(30)
        assert deliver_heartbeat(meter["thingName"], t1) == {"batchItemFailures": []}
        # Then it is online again, and the history shows every transition, newest first
        device = _get(api, token, meter["id"])
        assert device["status"] == "online" and device["lastSeenAt"] == clock.to_iso(t1)
        history = _data(api.call("GET", f"/v1/devices/{meter['id']}/status-history", token=token))
        assert [(h["previous"], h["status"], h["at"]) for h in history] == [
            ("offline", "online", clock.to_iso(t1)),
            ("online", "offline", clock.to_iso(t_off)),
            ("never_seen", "online", clock.to_iso(t0)),
        ]
        # And each transition was published as a domain event
        assert [(c.previous, c.status) for c in events.changes] == [
            ("never_seen", "online"),
            ("online", "offline"),
            ("offline", "online"),
        ]
        assert {c.device_id for c in events.changes} == {meter["id"]}


def test_readings_within_the_granularity_cost_no_write(api: Api) -> None:
    token = register_user(api, "owner@example.com")["accessToken"]
    store = CountingStore()
    with clock.frozen() as frozen, health_service.override(HealthService(store=store, events=RecordingPublisher())):
        meter = create_device(api, token)
        # When the meter reports every 10 s for 10 minutes (60 readings)
        for seq in range(1, 61):
            at = frozen.advance(10)
            assert ingest(meter["thingName"], _reading(at, seq), received_at=at) == {"batchItemFailures": []}
        # Then one transition and a touch about once a minute were written, not one write per reading
        assert store.calls["transition"] == 1
        assert store.calls["touch"] <= 10
        # And the device was read on the first reading and then once per memo lifetime (5 minutes)
        assert store.calls["get"] <= 1 + 600_000 // MEMO_TTL_MS
        # And it is still online
        assert _get(api, token, meter["id"])["status"] == "online"
        assert _sweep() == {"offline": 0}


def test_a_replayed_old_message_does_not_bring_an_offline_device_online(api: Api, events: RecordingPublisher) -> None:
    token = register_user(api, "owner@example.com")["accessToken"]
    with clock.frozen() as frozen:
        meter = create_device(api, token)
        t0 = frozen.advance(1)
        deliver_heartbeat(meter["thingName"], t0)
        frozen.advance(600)
        assert _sweep() == {"offline": 1}
        deliver_heartbeat(meter["thingName"], t0 + 1000)  # received long ago, delivered now
        assert _get(api, token, meter["id"])["status"] == "offline"


def test_list_filter_stats_and_their_authorization(api: Api, events: RecordingPublisher) -> None:
    admin = _admin(api)
    token = register_user(api, "owner@example.com")["accessToken"]
    with clock.frozen() as frozen:
        seen = create_device(api, token, name="seen")
        create_device(api, token, name="silent", type="battery")
        deliver_heartbeat(seen["thingName"], frozen.advance(1))
        # The owner filters their devices by status
        for status, names in (("online", ["seen"]), ("never_seen", ["silent"]), ("offline", [])):
            response = api.call("GET", f"/v1/devices?status={status}", token=token)
            assert response.status_code == 200, response.body
            assert [d["name"] for d in _data(response)] == names
        bad = api.call("GET", "/v1/devices?status=asleep", token=token)
        assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
        assert json.loads(bad.body)["errors"][0]["field"] == "status"
        # Stats: admins and operators only
        forbidden = api.call("GET", "/v1/devices/stats", token=token)
        assert forbidden.status_code == 403 and forbidden.headers["Content-Type"] == "application/problem+json"
        stats = _data(api.call("GET", "/v1/devices/stats", token=admin))
        assert stats["total"] == 2
        assert stats["byStatus"] == {"neverSeen": 1, "online": 1, "offline": 0}
        assert stats["byType"]["meter"] == {"neverSeen": 0, "online": 1, "offline": 0}
        assert stats["byType"]["battery"] == {"neverSeen": 1, "online": 0, "offline": 0}
        frozen.advance(600)
        _sweep()
        stats = _data(api.call("GET", "/v1/devices/stats", token=admin))
        assert stats["byStatus"] == {"neverSeen": 1, "online": 0, "offline": 1}


def test_status_history_pages_with_a_cursor(api: Api, events: RecordingPublisher) -> None:
    token = register_user(api, "owner@example.com")["accessToken"]
    with clock.frozen() as frozen:
        meter = create_device(api, token)
        for _ in range(3):
            deliver_heartbeat(meter["thingName"], frozen.advance(1))
            frozen.advance(600)
            _sweep()
        path = f"/v1/devices/{meter['id']}/status-history"
        first = json.loads(api.call("GET", f"{path}?limit=4", token=token).body)
        assert len(first["data"]) == 4 and first["pagination"]["nextCursor"]
        cursor = first["pagination"]["nextCursor"]
        rest = json.loads(api.call("GET", f"{path}?limit=4&cursor={cursor}", token=token).body)
        ats = [h["at"] for h in first["data"] + rest["data"]]
        assert len(ats) == 6 and ats == sorted(ats, reverse=True)
        other = register_user(api, "other@example.com")["accessToken"]
        assert api.call("GET", path, token=other).status_code == 404


def test_patch_renames_sets_the_limit_and_metadata(api: Api, events: RecordingPublisher) -> None:
    token = register_user(api, "owner@example.com")["accessToken"]
    with clock.frozen() as frozen:
        meter = create_device(api, token)
        deliver_heartbeat(meter["thingName"], frozen.advance(1))
        body = {"name": "roof meter", "offlineAfterS": 3600, "metadata": {"floor": "2"}}
        response = api.call("PATCH", f"/v1/devices/{meter['id']}", body, token=token)
        assert response.status_code == 200, response.body
        device = _data(response)
        assert (device["name"], device["offlineAfterS"], device["metadata"]) == ("roof meter", 3600, {"floor": "2"})
        # An empty body changes nothing
        assert _data(api.call("PATCH", f"/v1/devices/{meter['id']}", {}, token=token)) == device
        # The new limit applies at once: silent for 10 minutes, it stays online
        frozen.advance(600)
        assert _sweep() == {"offline": 0}
        frozen.advance(3600)
        assert _sweep() == {"offline": 1}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"offlineAfterS": 29}, "offlineAfterS"),
        ({"offlineAfterS": 604_801}, "offlineAfterS"),
        ({"name": ""}, "name"),
        ({"metadata": {"k": "v" * 257}}, "metadata"),
        ({"metadata": {str(i): "v" for i in range(21)}}, "metadata"),
        ({"siteId": ""}, "siteId"),
    ],
)
def test_a_bad_patch_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    token = register_user(api, "owner@example.com")["accessToken"]
    meter = create_device(api, token)
    response = api.call("PATCH", f"/v1/devices/{meter['id']}", body, token=token)
    assert response.status_code == 422, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in json.loads(response.body)["errors"]] == [field]


def test_only_the_owner_or_an_admin_may_patch(api: Api) -> None:
    admin = _admin(api)
    token = register_user(api, "owner@example.com")["accessToken"]
    meter = create_device(api, token)
    other = register_user(api, "other@example.com")["accessToken"]
    assert api.call("PATCH", f"/v1/devices/{meter['id']}", {"name": "x"}, token=other).status_code == 404
    assert api.call("PATCH", f"/v1/devices/{meter['id']}", {"name": "x"}).status_code == 401
    assert api.call("PATCH", f"/v1/devices/{meter['id']}", {"name": "by admin"}, token=admin).status_code == 200
    assert _get(api, token, meter["id"])["name"] == "by admin"


def test_a_status_change_reaches_an_eventbridge_subscriber(aws: dict[str, str]) -> None:
    # Given a subscriber (as the alerts context will be): a rule on the default bus sending to a queue
    from gridshare.devices.status_events import EventBridgePublisher
    from gridshare.kernel.aws import client

    queue_url = client("sqs").create_queue(QueueName="status-subscriber")["QueueUrl"]
    queue_arn = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": ["gridshare.devices"], "detail-type": ["DeviceStatusChanged"]}
    client("events").put_rule(Name="device-status", EventPattern=json.dumps(pattern))
    client("events").put_targets(Rule="device-status", Targets=[{"Id": "q", "Arn": queue_arn}])
    # When a transition is published
    EventBridgePublisher().publish(StatusChange("D1", "U1", "meter", "online", "offline", 1_796_000_000_000, None))
    # Then the subscriber gets it, shaped as events/eventbridge_device_status_changed.json
    messages = client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert event["source"] == "gridshare.devices" and event["detail-type"] == "DeviceStatusChanged"
    assert event["detail"]["deviceId"] == "D1" and event["detail"]["status"] == "offline"
    assert event["detail"]["lastSeenAt"] is None


def test_a_limit_changed_elsewhere_is_not_overwritten_by_a_containers_memo(
    api: Api, events: RecordingPublisher
) -> None:
    # Given an online meter whose messages another container (this service's memo) keeps noting
    token = register_user(api, "owner@example.com")["accessToken"]
    with clock.frozen() as frozen:
        meter = create_device(api, token)
        deliver_heartbeat(meter["thingName"], frozen.advance(1))
        # When its owner raises its limit through a different container (a fresh service instance)
        with health_service.override(HealthService(events=RecordingPublisher())):
            patched = api.call("PATCH", f"/v1/devices/{meter['id']}", {"offlineAfterS": 3600}, token=token)
            assert patched.status_code == 200, patched.body
        # And the first container notes a message with its old memo, then the meter goes silent 10 minutes
        deliver_heartbeat(meter["thingName"], frozen.advance(90))
        frozen.advance(600)
        # Then the new limit holds: it is still online
        assert _sweep() == {"offline": 0}
        assert _get(api, token, meter["id"])["status"] == "online"
