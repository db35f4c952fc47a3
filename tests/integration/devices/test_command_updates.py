"""Command state changes are announced as `CommandUpdated` events (docs/events.md) to the device's owner: an ack,
a timeout, a command never published; and the event reaches the notifications' live queue on moto's bus."""

from __future__ import annotations

import json
from typing import Any

from gridshare.devices.command_service import CommandService, command_service
from gridshare.kernel import clock
from gridshare.kernel.aws import client
from tests.support.api import Api, register_user
from tests.support.devices import create_device, deliver_ack


class RecordingUpdates:
    def __init__(self) -> None:
        self.events: list[tuple[dict[str, Any], str, str]] = []

    def publish(self, command: dict[str, Any], device_id: str, owner_id: str) -> None:
        self.events.append((command, device_id, owner_id))


def test_acks_and_timeouts_are_announced_to_the_owner(api: Api) -> None:
    login = register_user(api, "commands-updates@example.com")
    token, user = login["accessToken"], login["user"]["id"]
    meter = create_device(api, token)
    updates = RecordingUpdates()
    with command_service.override(CommandService(updates=updates)):
        sent = json.loads(
            api.call("POST", f"/v1/devices/{meter['id']}/commands", {"name": "reset_counters"}, token=token).body
        )["data"]
        other = json.loads(
            api.call("POST", f"/v1/devices/{meter['id']}/commands", {"name": "reset_counters"}, token=token).body
        )["data"]
        assert updates.events == []  # issuing is not a state change
        # When the device answers one, and the other times out
        ack = {"correlationId": sent["id"], "status": "succeeded", "result": {}}
        assert deliver_ack(meter["thingName"], ack) == {"batchItemFailures": []}
        assert deliver_ack(meter["thingName"], ack) == {"batchItemFailures": []}  # a duplicate changes nothing
        with clock.frozen(clock.now_ms() + 10 * 60_000):
            assert command_service().expire_overdue() == 1
    # Then each change was announced once, with the command's public JSON and the owner
    assert [(c["id"], c["status"], d, o) for c, d, o in updates.events] == [
        (sent["id"], "succeeded", meter["id"], user),
        (other["id"], "timed_out", meter["id"], user),
    ]


def test_the_event_reaches_the_notifications_live_queue(api: Api, aws: dict[str, str]) -> None:
    token = register_user(api, "commands-bus@example.com")["accessToken"]
    meter = create_device(api, token)
    sent = json.loads(
        api.call("POST", f"/v1/devices/{meter['id']}/commands", {"name": "reset_counters"}, token=token).body
    )["data"]
    deliver_ack(meter["thingName"], {"correlationId": sent["id"], "status": "succeeded", "result": {}})
    url = json.loads(aws["queue_urls"])["notifications-live"]
    (message,) = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert body["source"] == "gridshare.devices" and body["detail-type"] == "CommandUpdated"
    assert body["detail"]["command"]["status"] == "succeeded" and body["detail"]["deviceId"] == meter["id"]
