"""Device configuration end to end, as a device would see it: the AWS IoT Device SDK's IotShadowClient over
mutual TLS against the local stack. A config change through the API reaches the device as a shadow delta;
the device reports through `$aws/things/{thing}/shadow/update` (accepted/rejected answers echo its client
token, `get` works), the reported state and firmware version come back through the API, and a calibration
offset changes the stored values. Another user's device's config is a 404.
"""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt, mqtt5
from awsiot import iotshadow

from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
QOS1 = mqtt.QoS.AT_LEAST_ONCE
TIMEOUT_S = 20


class ShadowDevice:
    """The shadow side of firmware: IotShadowClient on the device's own MQTT 5 connection."""

    def __init__(self, device: DeviceConnection) -> None:
        self.thing = device.thing
        self.client = iotshadow.IotShadowClient(device.client)
        self.events: dict[str, queue.Queue[Any]] = {}
        thing = self.thing
        subscriptions = {
            "delta": (
                self.client.subscribe_to_shadow_delta_updated_events,
                iotshadow.ShadowDeltaUpdatedSubscriptionRequest,
            ),
            "accepted": (self.client.subscribe_to_update_shadow_accepted, iotshadow.UpdateShadowSubscriptionRequest),
            "rejected": (self.client.subscribe_to_update_shadow_rejected, iotshadow.UpdateShadowSubscriptionRequest),
            "get": (self.client.subscribe_to_get_shadow_accepted, iotshadow.GetShadowSubscriptionRequest),
            "get_rejected": (self.client.subscribe_to_get_shadow_rejected, iotshadow.GetShadowSubscriptionRequest),
        }
        for name, (subscribe, request) in subscriptions.items():
            self.events[name] = queue.Queue()
            future, _topic = subscribe(request(thing_name=thing), QOS1, self.events[name].put)
            future.result(TIMEOUT_S)

    def next(self, name: str, token: str | None = None) -> Any:
        """The next event of a kind; with `token`, the next answering that client token (IoT also answers
        on update/accepted for updates the device did not make, e.g. the API's)."""
        while True:
            event = self.events[name].get(timeout=TIMEOUT_S)
            if token is None or event.client_token == token:
                return event

    def report(self, reported: dict[str, Any], token: str, version: int | None = None) -> None:
        request = iotshadow.UpdateShadowRequest(
            thing_name=self.thing, state=iotshadow.ShadowState(reported=reported), client_token=token, version=version
        )
        self.client.publish_update_shadow(request, QOS1).result(TIMEOUT_S)

    def get(self, token: str) -> None:
        self.client.publish_get_shadow(
            iotshadow.GetShadowRequest(thing_name=self.thing, client_token=token), QOS1
        ).result(TIMEOUT_S)


def test_config_reaches_the_device_as_a_delta_and_its_reported_state_comes_back(stack: Stack, tmp_path: Path) -> None:
    token = stack.register("shadow@example.com")["accessToken"]
    other_token = stack.register("shadow-other@example.com")["accessToken"]
    meter = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]
    other = stack.call("POST", "/v1/devices", {"name": "other", "type": "meter"}, token=other_token).json()["data"]
    assert meter["firmwareVersion"] is None

    with DeviceConnection(meter, tmp_path / "meter") as device, DeviceConnection(other, tmp_path / "other") as intruder:
        shadow = ShadowDevice(device)

        # When the owner changes the configuration through the API
        desired = {"reportIntervalS": 30, "calibration": {"power_w": {"offset": 100.0, "scale": 1.0}}}
        put = stack.call("PUT", f"/v1/devices/{meter['id']}/config", desired, token=token)
        assert put.status_code == 200, put.text

        # Then the device gets it as a shadow delta (IotShadowClient's delta event)
        delta = shadow.next("delta")
        assert delta.state == desired and delta.version == put.json()["data"]["version"]

        # When the device reports what it applied, with its firmware version
        shadow.report({**desired, "firmwareVersion": "1.2.3"}, token="report-1")

        # Then IoT's accepted answer echoes its client token, and the API shows the reported state
        accepted = shadow.next("accepted", token="report-1")
        assert accepted.client_token == "report-1" and accepted.state.reported["firmwareVersion"] == "1.2.3"
        config = stack.call("GET", f"/v1/devices/{meter['id']}/config", token=token).json()["data"]
        assert config["reported"] == {**desired, "firmwareVersion": "1.2.3"} and config["delta"] == {}
        # and the firmware version reaches the device record (documents rule -> queue -> devices Lambda)
        wait_for(
            lambda: (
                stack.call("GET", f"/v1/devices/{meter['id']}", token=token).json()["data"]["firmwareVersion"]
                == "1.2.3"
                or None
            ),
            what="firmwareVersion on the device",
            timeout=30,
        )

        # And `get` answers the whole document; a stale version is rejected with IoT's error body
        shadow.get("get-1")
        document = shadow.next("get", token="get-1")
        assert document.client_token == "get-1" and document.state.desired == desired
        shadow.report({"reportIntervalS": 30}, token="stale", version=1)
        rejected = shadow.next("rejected", token="stale")
        assert (rejected.code, rejected.client_token) == (409, "stale")

        # And another device may not touch this device's shadow (the policy grants exactly its own)
        forged = intruder.publish(f"$aws/things/{meter['thingName']}/shadow/update", {"state": {"reported": {}}})
        assert forged == mqtt5.PubackReasonCode.NOT_AUTHORIZED

        # When the meter sends a reading, its calibration offset applies (the raw value kept beside it)
        now = time.time_ns() // 1_000_000  # the shared stack's clock is the real one
        assert (
            device.send_telemetry({"ts": now, "seq": 1, "metrics": {"power_w": 1000}}) == mqtt5.PubackReasonCode.SUCCESS
        )

    latest = wait_for(
        lambda: (
            (r := stack.call("GET", f"/v1/devices/{meter['id']}/readings/latest", token=token)).status_code == 200
            and r.json()["data"]
            or None
        ),
        what="the calibrated reading",
        timeout=30,
    )
    assert latest["metrics"]["power_w"] == 1100
    raw = stack.call(
        "GET",
        f"/v1/devices/{meter['id']}/readings",
        token=token,
        params={"metric": "power_w", "from": now, "to": now + 1},
    ).json()["data"]
    assert raw == [{"ts": latest["ts"], "seq": 1, "value": 1100, "uncalibrated": 1000}]

    # And another user's device's config is a 404
    assert stack.call("GET", f"/v1/devices/{meter['id']}/config", token=other_token).status_code == 404
    assert stack.call("PUT", f"/v1/devices/{meter['id']}/config", {}, token=other_token).status_code == 404
