"""IoT Core's classic device shadow on the local broker, on moto's shadow store (decision 0011).

moto's `iot-data` keeps shadow documents (update with merge and delta, get, delete) but has no MQTT side.
The local stack runs moto in its own process, so this module adds the two halves IoT Core has:

- every shadow update moto takes (the API's `update_thing_shadow`, or a device's update below) is published
  on `$aws/things/{thing}/shadow/update/accepted`, `.../update/documents` and, when the update touched
  `desired` and the shadow has a delta, `.../update/delta`, with IoT Core's payloads; the documents topic
  feeds the shadow-documents rule (iot_rules/shadow_documents.json) through the rule bridge;
- a backend client (CN `gridshare-backend-shadow`) subscribes to `$aws/things/+/shadow/update`, `/get` and
  `/delete`, applies each request to moto's store, and answers on `.../accepted` or `.../rejected` with IoT
  Core's error body `{"code", "message", "clientToken"}`, echoing the request's `clientToken`.

Only the classic (unnamed) shadow is served; the device policy grants a device exactly its own topics.
The thing is the topic's, never the payload's, as on IoT Core.
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gridshare_local.pki import common_name_of

logger = logging.getLogger("gridshare.local.shadow")
CLIENT_CN = "gridshare-backend-shadow"
PREFIX = "$aws/things/"
REQUESTS = ("update", "get", "delete")
PUBLISH_TIMEOUT_S = 10.0


def shadow_topic(thing: str, *parts: str) -> str:
    return "/".join([f"{PREFIX}{thing}/shadow", *parts])


def error_body(code: int, message: str, client_token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "timestamp": int(time.time())}
    if client_token is not None:
        body["clientToken"] = client_token
    return body


def _state_document(shadow: Any) -> dict[str, Any]:
    """A shadow as `documents` carries it: state (desired, reported), metadata, version."""
    full = shadow.to_dict(include_delta=False)
    return {"state": full.get("state") or {}, "metadata": full.get("metadata") or {}, "version": full["version"]}


def update_messages(
    thing: str, request: dict[str, Any], previous: Any, shadow: Any
) -> list[tuple[str, dict[str, Any]]]:
    """What IoT Core publishes after it accepted an update of `thing`'s shadow (topic, payload)."""
    token = request.get("clientToken")
    accepted = shadow.to_response_dict()
    documents: dict[str, Any] = {
        "previous": _state_document(previous) if previous is not None and not previous.deleted else None,
        "current": _state_document(shadow),
        "timestamp": shadow.timestamp,
    }
    if token is not None:
        accepted["clientToken"] = token
        documents["clientToken"] = token
    out = [
        (shadow_topic(thing, "update", "accepted"), accepted),
        (shadow_topic(thing, "update", "documents"), documents),
    ]
    delta = shadow.to_dict().get("state", {}).get("delta")
    if delta and (request.get("state") or {}).get("desired") is not None:
        event: dict[str, Any] = {"state": delta, "version": shadow.version, "timestamp": shadow.timestamp}
        if token is not None:
            event["clientToken"] = token
        out.append((shadow_topic(thing, "update", "delta"), event))
    return out


class ShadowBridge:
    """The backend MQTT client of the shadow service, and the publisher of its answers."""

    def __init__(
        self, host: str, port: int, cert_path: Path, key_path: Path, ca_path: Path, region: str, account: str
    ) -> None:
        self.host, self.port, self.region, self.account = host, port, region, account
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=common_name_of(Path(cert_path).read_bytes()), protocol=mqtt.MQTTv5
        )
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_path))
        context.load_cert_chain(str(cert_path), str(key_path))
        self.client.tls_set_context(context)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        # Requests are applied on a worker: publishing the answer waits for its PUBACK, which paho's network
        # thread (the one running callbacks) must be free to read.
        self._requests: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="shadow-bridge", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> None:
        self._worker.start()
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise RuntimeError(f"shadow bridge: not subscribed on {self.host}:{self.port} within {timeout}s")

    def stop(self) -> None:
        self._requests.put(None)
        self.client.disconnect()
        self.client.loop_stop()

    def _work(self) -> None:
        while (item := self._requests.get()) is not None:
            try:
                self.handle(*item)
            except Exception:
                logger.exception("shadow bridge failed on a message on %s", item[0])

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe([(f"{PREFIX}+/shadow/{request}", 1) for request in REQUESTS])

    # ------------------------------------------------------------------ moto
    def _backend(self) -> Any:
        from moto.iotdata.models import iotdata_backends

        return iotdata_backends[self.account][self.region]

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        info = self.client.publish(topic, json.dumps(payload).encode(), qos=1)
        info.wait_for_publish(PUBLISH_TIMEOUT_S)
        if info.rc != mqtt.MQTT_ERR_SUCCESS or not info.is_published():
            raise ConnectionError(f"the local broker did not take the message on {topic}: {mqtt.error_string(info.rc)}")

    # ------------------------------------------------------------------ device requests
    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._requests.put((message.topic, bytes(message.payload)))

    def handle(self, topic: str, payload: bytes) -> None:
        """Apply one device request (`$aws/things/{thing}/shadow/{update|get|delete}`) and answer it."""
        levels = topic.split("/")
        if len(levels) != 5 or levels[3] != "shadow" or levels[4] not in REQUESTS:
            return
        thing, request_kind = levels[2], levels[4]
        reply = shadow_topic(thing, request_kind)
        try:
            request = json.loads(payload) if payload else {}
        except ValueError:
            self.publish(f"{reply}/rejected", error_body(400, "Payload contains invalid json", None))
            return
        if not isinstance(request, dict):
            self.publish(f"{reply}/rejected", error_body(400, "Payload contains invalid json", None))
            return
        token = request.get("clientToken")
        outcome = getattr(self, f"_{request_kind}")(thing, request)
        if isinstance(outcome, tuple):  # (code, message): rejected
            self.publish(f"{reply}/rejected", error_body(outcome[0], outcome[1], token))
        elif outcome is not None:
            if token is not None:
                outcome["clientToken"] = token
            self.publish(f"{reply}/accepted", outcome)

    def _update(self, thing: str, request: dict[str, Any]) -> tuple[int, str] | None:
        from moto.core.exceptions import JsonRESTError

        body = {key: value for key, value in request.items() if key != "clientToken"}
        try:
            # moto's update, wrapped by install(): it publishes accepted/documents/delta (with the token)
            _with_token(self._backend(), thing, body, request.get("clientToken"))
        except JsonRESTError as exc:
            return int(getattr(exc, "code", 400)), exc.message
        return None

    def _get(self, thing: str, request: dict[str, Any]) -> dict[str, Any] | tuple[int, str]:
        from moto.core.exceptions import JsonRESTError

        try:
            shadow = self._backend().get_thing_shadow(thing, None)
        except JsonRESTError:
            return 404, f"No shadow exists with name: '{thing}'"
        return dict(shadow.to_dict())

    def _delete(self, thing: str, request: dict[str, Any]) -> dict[str, Any] | tuple[int, str]:
        from moto.core.exceptions import JsonRESTError

        try:
            self._backend().get_thing_shadow(thing, None)  # moto would "delete" a deleted shadow again
            shadow = self._backend().delete_thing_shadow(thing, None)
        except JsonRESTError:
            return 404, f"No shadow exists with name: '{thing}'"
        return {"version": shadow.version, "timestamp": shadow.timestamp}


_bridge: ShadowBridge | None = None
_installed = False
_local = threading.local()


def _with_token(backend: Any, thing: str, body: dict[str, Any], token: str | None) -> Any:
    _local.token = token
    try:
        return backend.update_thing_shadow(thing, json.dumps(body), None)
    finally:
        _local.token = None


def install(bridge: ShadowBridge | None) -> None:
    """Publish moto's accepted shadow updates through `bridge` (None: stop; moto still keeps them)."""
    global _bridge, _installed
    _bridge = bridge
    if _installed:
        return
    from moto.iotdata.models import IoTDataPlaneBackend

    original = IoTDataPlaneBackend.update_thing_shadow

    def update_thing_shadow(self: Any, thing_name: str, payload: str, shadow_name: str | None) -> Any:
        thing = self.iot_backend.describe_thing(thing_name)
        before = copy.deepcopy(thing.thing_shadows.get(shadow_name))  # moto merges into the old dicts
        shadow = original(self, thing_name, payload, shadow_name)
        target = _bridge
        if target is not None and shadow_name is None:
            request = json.loads(payload)
            token = getattr(_local, "token", None)
            if token is not None:
                request["clientToken"] = token
            for topic, message in update_messages(thing_name, request, before, shadow):
                try:
                    target.publish(topic, message)
                except Exception as exc:  # the update stands, as IoT Core's would; the device can `get`
                    logger.warning("shadow message on %s not delivered to the broker: %s", topic, exc)
        return shadow

    IoTDataPlaneBackend.update_thing_shadow = update_thing_shadow  # type: ignore[method-assign]
    _installed = True
