"""The local shadow service (gridshare_local.shadow_bridge) on Mosquitto and moto's shadow store: a device's
update/get/delete requests are answered on accepted/rejected with IoT Core's bodies, and every accepted
update is published as accepted, documents and (when desired changed) delta."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import paho.mqtt.client as mqtt
import pytest
from moto import mock_aws
from paho.mqtt.enums import CallbackAPIVersion

from gridshare_local import shadow_bridge
from gridshare_local.broker import MosquittoBroker, find_mosquitto
from gridshare_local.pki import LocalCA
from tests.local.test_local_iot import HOST, TIMEOUT, free_port

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")
THING = "gs-shadow-device"
ANSWERS = f"$aws/things/{THING}/shadow/+/+"


class Device:
    """A device as paho sees it: its certificate, subscribed to every answer of its shadow."""

    def __init__(self, broker: MosquittoBroker, ca: LocalCA, directory: Path) -> None:
        cert_pem, key_pem = ca.issue_client_cert(THING)
        (directory / "d.crt").write_text(cert_pem)
        (directory / "d.key").write_text(key_pem)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=THING, protocol=mqtt.MQTTv5)
        self.client.tls_set(
            ca_certs=str(broker.ca_path), certfile=str(directory / "d.crt"), keyfile=str(directory / "d.key")
        )
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_connect = lambda client, *_: client.subscribe(ANSWERS, qos=1)
        self.client.connect(HOST, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(TIMEOUT)

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append((message.topic, json.loads(message.payload)))
            self._changed.notify_all()

    def request(self, kind: str, body: dict[str, Any] | bytes) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.client.publish(f"$aws/things/{THING}/shadow/{kind}", payload, qos=1).wait_for_publish(TIMEOUT)

    def answer(self, topic_end: str, count: int = 1) -> dict[str, Any]:
        """The `count`-th message on `$aws/things/{thing}/shadow/{topic_end}`."""
        topic = f"$aws/things/{THING}/shadow/{topic_end}"
        with self._changed:
            found = self._changed.wait_for(lambda: len([m for t, m in self.messages if t == topic]) >= count, TIMEOUT)
            assert found, f"no message {count} on {topic}: {self.messages}"
            return [m for t, m in self.messages if t == topic][count - 1]


@pytest.fixture
def device() -> Iterator[Device]:
    root = Path(tempfile.mkdtemp(prefix="gs-shadow-"))
    os.chmod(root, 0o711)
    ca = LocalCA.ensure(root / "ca")
    with MosquittoBroker(root / "state", ca, host=HOST, port=free_port()) as broker, mock_aws():
        boto3.client("iot", region_name="us-east-1").create_thing(thingName=THING)
        bridge = shadow_bridge.ShadowBridge(
            HOST, broker.port, *broker.client_credentials(shadow_bridge.CLIENT_CN), "us-east-1", "123456789012"
        )
        bridge.start(timeout=TIMEOUT)
        shadow_bridge.install(bridge)
        device = Device(broker, ca, root)
        try:
            yield device
        finally:
            device.client.loop_stop()
            shadow_bridge.install(None)
            bridge.stop()


def test_a_device_gets_updates_and_deletes_its_shadow_with_iot_cores_answers(device: Device) -> None:
    # Given no shadow yet: get is rejected with IoT's error body, echoing the client token
    device.request("get", {"clientToken": "g1"})
    assert device.answer("get/rejected") | {"timestamp": 0} == {
        "code": 404,
        "message": f"No shadow exists with name: '{THING}'",
        "clientToken": "g1",
        "timestamp": 0,
    }
    # And an update that is not JSON is rejected as IoT does
    device.request("update", b"{not json")
    assert device.answer("update/rejected")["code"] == 400

    # When the backend sets desired through the data plane (what the devices API does)
    data = boto3.client(
        "iot-data", region_name="us-east-1", endpoint_url="https://data-ats.iot.us-east-1.amazonaws.com"
    )
    data.update_thing_shadow(thingName=THING, payload=json.dumps({"state": {"desired": {"reportIntervalS": 30}}}))
    # Then the device gets the delta, and documents say what changed
    assert device.answer("update/delta")["state"] == {"reportIntervalS": 30}
    documents = device.answer("update/documents")
    assert documents["previous"] is None and documents["current"]["state"]["desired"] == {"reportIntervalS": 30}

    # When the device reports it, with a client token
    device.request("update", {"state": {"reported": {"reportIntervalS": 30}}, "clientToken": "u1"})
    accepted = device.answer("update/accepted", count=2)
    assert accepted["clientToken"] == "u1" and accepted["state"] == {"reported": {"reportIntervalS": 30}}
    assert device.answer("update/documents", count=2)["current"]["version"] == 2
    # And get answers the whole document, without a delta now
    device.request("get", {"clientToken": "g2"})
    document = device.answer("get/accepted")
    assert document["clientToken"] == "g2" and "delta" not in document["state"] and document["version"] == 2
    # And a stale version is a 409
    device.request("update", {"state": {"reported": {"x": 1}}, "version": 1, "clientToken": "u2"})
    assert device.answer("update/rejected", count=2) | {"timestamp": 0} == {
        "code": 409,
        "message": "Version conflict",
        "clientToken": "u2",
        "timestamp": 0,
    }

    # When the device deletes its shadow, it is gone
    device.request("delete", {"clientToken": "d1"})
    assert device.answer("delete/accepted")["clientToken"] == "d1"
    device.request("get", {})
    assert device.answer("get/rejected", count=2)["code"] == 404
