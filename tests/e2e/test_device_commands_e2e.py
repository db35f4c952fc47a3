"""Device commands end to end, as a user and a device would use them: the API publishes a command through
IoT's data plane (locally moto's iot-data, forwarded to Mosquitto), a device connected over mutual TLS
receives it on gs/v1/{thing}/commands and answers on .../commands/ack, the commands-ack rule and its queue
bring the answer back, and the API shows it. An unanswered command times out when the stack's clock moves
past its deadline (the expiry schedule fires); nothing sleeps for time to pass.

Runs on a stack of its own (`private_stack`): moving the clock would move it under every later test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5

from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def _command(stack: Stack, token: str, device_id: str, command_id: str) -> dict[str, Any]:
    response = stack.call("GET", f"/v1/devices/{device_id}/commands/{command_id}", token=token)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _until(stack: Stack, token: str, device_id: str, command_id: str, what: str, check: Any) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        command = _command(stack, token, device_id, command_id)
        return command if check(command) else None

    return wait_for(current, what=what, timeout=30)


def test_a_device_receives_a_command_acks_it_and_unanswered_ones_time_out(private_stack: Stack, tmp_path: Path) -> None:
    stack = private_stack
    token = stack.register("commands@example.com")["accessToken"]
    meter = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]
    battery = stack.call("POST", "/v1/devices", {"name": "battery", "type": "battery"}, token=token).json()["data"]

    with DeviceConnection(meter, tmp_path / "meter") as device, DeviceConnection(battery, tmp_path / "bat") as other:
        # Given a meter subscribed to its commands topic (the IoT policy grants it its own)
        assert device.subscribe(meter["topics"]["commands"]) == [mqtt5.SubackReasonCode.GRANTED_QOS_1]

        # When the owner sends it a command through the API
        sent = stack.call(
            "POST",
            f"/v1/devices/{meter['id']}/commands",
            {"name": "set_report_interval", "params": {"intervalS": 30}},
            token=token,
        )
        assert sent.status_code == 202, sent.text
        command = sent.json()["data"]
        assert command["status"] == "sent"

        # Then the device receives it on its commands topic, the command id as correlation id
        topic, message = device.next_message()
        assert topic == meter["topics"]["commands"]
        assert message == {
            "correlationId": command["id"],
            "name": "set_report_interval",
            "params": {"intervalS": 30},
            "issuedAt": command["issuedAt"],
            "expiresAt": command["expiresAt"],
        }

        # When another device answers it from its own ack topic, and the meter then answers it
        forged = {"correlationId": command["id"], "status": "failed", "result": {}}
        assert other.publish(battery["topics"]["commandsAck"], forged) == mqtt5.PubackReasonCode.SUCCESS
        # (and a device may not publish on another device's ack topic at all)
        assert other.publish(meter["topics"]["commandsAck"], forged) == mqtt5.PubackReasonCode.NOT_AUTHORIZED
        assert device.acknowledge(message, "succeeded", {"intervalS": 30}) == mqtt5.PubackReasonCode.SUCCESS

        # Then the API shows the meter's answer (the other device's was ignored)
        done = _until(stack, token, meter["id"], command["id"], "succeeded", lambda c: c["status"] != "sent")
        assert done["status"] == "succeeded" and done["result"] == {"intervalS": 30}

        # Given a command the device receives but does not answer within its 5 s
        quiet = stack.call(
            "POST", f"/v1/devices/{meter['id']}/commands", {"name": "reset_counters", "timeoutS": 5}, token=token
        ).json()["data"]
        _, unanswered = device.next_message()
        assert unanswered["correlationId"] == quiet["id"]

        # When the stack's clock moves two minutes forward (the expiry schedule falls due and fires)
        advanced = stack.call("POST", "/_local/clock/advance", {"seconds": 120})
        assert advanced.status_code == 200, advanced.text
        assert "default/device-command-expiry" in advanced.json()["data"]["fired"]

        # Then the command timed out at its deadline
        timed_out = _until(stack, token, meter["id"], quiet["id"], "timed out", lambda c: c["status"] != "sent")
        assert timed_out["status"] == "timed_out" and timed_out["completedAt"] == quiet["expiresAt"]

        # And an ack that comes after that is recorded, but the command stays timed out
        assert device.acknowledge(unanswered, "succeeded") == mqtt5.PubackReasonCode.SUCCESS
        late = _until(stack, token, meter["id"], quiet["id"], "late ack recorded", lambda c: "lateAck" in c)
        assert late["status"] == "timed_out" and late["lateAck"]["status"] == "succeeded"

    # And the device's commands list newest first
    listed = stack.call("GET", f"/v1/devices/{meter['id']}/commands", token=token).json()["data"]
    assert [c["id"] for c in listed] == [quiet["id"], command["id"]]
