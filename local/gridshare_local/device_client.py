"""A device as firmware would be: the AWS IoT Device SDK (awscrt MQTT 5) over mutual TLS. It publishes
telemetry, and receives commands on its commands topic and answers them (`subscribe`, `acknowledge`).

Built from the provisioning response of `POST /v1/devices`; used by the simulator, the demo and the
end-to-end tests. A device's clock (`StackClock`) is the local stack's, as firmware keeps NTP time: when
the stack's clock is moved forward (`gridshare clock advance`), readings carry the moved time, so the
backend, which reads the same clock, does not refuse them as coming from the future.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from gridshare.kernel import clock
from gridshare_local.state_secrets import write_owner_only

TIMEOUT_S = 20.0
logger = logging.getLogger("gridshare.local.device")


class StackClock:
    """Now (epoch ms) on the local stack's clock, for devices.

    In a process that has the stack's GS_CLOCK_FILE (the stack itself, the demo, a process given the
    stack's env.json) this is the kernel clock. Elsewhere it asks the stack's API (`GET /_local/clock`)
    for the offset, at most once per `refresh_s`, and keeps the last answer if the API cannot be reached.
    """

    def __init__(self, api: str | None = None, refresh_s: float = 1.0) -> None:
        self.api, self.refresh_s = api, refresh_s
        self._offset_ms = 0
        self._fetched_at: float | None = None

    def now_ms(self) -> int:
        if self.api is None or os.environ.get(clock.CLOCK_FILE_ENV):
            return clock.now_ms()
        if self._fetched_at is None or time.monotonic() - self._fetched_at >= self.refresh_s:
            self._refresh()
        return time.time_ns() // 1_000_000 + self._offset_ms  # real time + the stack's offset

    def _refresh(self) -> None:
        import requests

        self._fetched_at = time.monotonic()
        try:
            response = requests.get(f"{self.api}/_local/clock", timeout=5)
        except requests.RequestException as exc:
            logger.warning("the stack's clock could not be read (%s): keeping offset %s ms", exc, self._offset_ms)
            return
        if response.status_code == 200:
            self._offset_ms = round(float(response.json()["data"]["offsetS"]) * 1000)


def write_credentials(
    provisioned: dict[str, Any], workdir: Path, key_pem: str | None = None
) -> tuple[Path, Path, Path]:
    """A device's certificate, private key (owner-only from the first byte) and CA under `workdir`, from the
    `data` of POST /v1/devices (`key_pem` when the device made its own CSR); returns (cert, key, ca)."""
    thing = provisioned["thingName"]
    workdir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path, ca_path = workdir / f"{thing}.crt", workdir / f"{thing}.key", workdir / "ca.crt"
    cert_path.write_text(provisioned["certificatePem"])
    write_owner_only(key_path, key_pem or provisioned["privateKey"])
    ca_path.write_text(provisioned["caCertificatePem"])
    return cert_path, key_path, ca_path


class DeviceConnection:
    def __init__(
        self,
        provisioned: dict[str, Any],
        workdir: Path | None,
        *,
        key_pem: str | None = None,
        client_id: str | None = None,
        files: tuple[Path, Path, Path] | None = None,
    ) -> None:
        """`provisioned` is the `data` of POST /v1/devices (thingName, topics, mqtt); its credentials are
        written under `workdir` (`key_pem` when the device made its own CSR), or, with `files`, the
        (certificate, key, CA) files a device already keeps are used as they are."""
        self.thing = provisioned["thingName"]
        self.topics = provisioned["topics"]
        if files is None:
            if workdir is None:
                raise ValueError("a workdir for the credentials, or the files of existing ones")
            files = write_credentials(provisioned, workdir, key_pem)
        self.cert_path, self.key_path, self.ca_path = files
        self._connected: Future[Any] = Future()
        self._stopped = threading.Event()
        # Lifecycle after the first connection (the client reconnects by itself): a revoked certificate's
        # session is closed (`disconnected`), and its reconnects fail (`failures` counts them).
        self.disconnected = threading.Event()
        self.reconnected = threading.Event()
        self.failures = 0
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()  # (topic, payload) of subscriptions
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint=provisioned["mqtt"]["host"],
            port=int(provisioned["mqtt"]["port"]),
            cert_filepath=str(self.cert_path),
            pri_key_filepath=str(self.key_path),
            ca_filepath=str(self.ca_path),
            client_id=client_id or self.thing,
            on_lifecycle_connection_success=self._on_success,
            on_lifecycle_connection_failure=self._on_failure,
            on_lifecycle_stopped=lambda _data: self._stopped.set(),
            on_lifecycle_disconnection=lambda _data: self.disconnected.set(),
            on_publish_received=self._on_publish,
        )

    def _on_success(self, data: Any) -> None:
        if not self._connected.done():
            self._connected.set_result(data)
        elif self.disconnected.is_set():
            self.reconnected.set()

    def _on_failure(self, data: Any) -> None:
        self.failures += 1
        if not self._connected.done():
            self._connected.set_exception(data.exception or ConnectionError("connection failed"))

    def _on_publish(self, data: Any) -> None:
        packet = data.publish_packet
        self.received.put((packet.topic, bytes(packet.payload or b"")))

    def connect(self, timeout: float = TIMEOUT_S) -> DeviceConnection:
        self.client.start()
        self._connected.result(timeout)
        return self

    def close(self) -> None:
        self.client.stop()
        self._stopped.wait(TIMEOUT_S)

    def __enter__(self) -> DeviceConnection:
        return self.connect()

    def __exit__(self, *_: object) -> None:
        self.close()

    def publish(self, topic: str, payload: bytes | str | dict[str, Any]) -> mqtt5.PubackReasonCode:
        """Publish at QoS 1; the broker's PUBACK reason code says whether the policy allowed it."""
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        data = payload.encode() if isinstance(payload, str) else payload
        packet = mqtt5.PublishPacket(topic=topic, payload=data, qos=mqtt5.QoS.AT_LEAST_ONCE)
        return self.client.publish(packet).result(TIMEOUT_S).puback.reason_code

    def send_telemetry(self, message: dict[str, Any] | bytes | str) -> mqtt5.PubackReasonCode:
        return self.publish(self.topics["telemetry"], message)

    def subscribe(self, topic_filter: str) -> list[mqtt5.SubackReasonCode]:
        """Subscribe at QoS 1; messages arrive in `received`. The SUBACK's reason codes (Mosquitto grants
        another device's topic and then delivers nothing; IoT Core refuses it)."""
        packet = mqtt5.SubscribePacket(
            subscriptions=[mqtt5.Subscription(topic_filter=topic_filter, qos=mqtt5.QoS.AT_LEAST_ONCE)]
        )
        return list(self.client.subscribe(packet).result(TIMEOUT_S).reason_codes)

    def next_message(self, timeout: float = TIMEOUT_S) -> tuple[str, dict[str, Any]]:
        """The next message received on a subscription, as (topic, JSON document); queue.Empty after `timeout`."""
        topic, payload = self.received.get(timeout=timeout)
        return topic, json.loads(payload)

    def acknowledge(self, command: dict[str, Any], status: str, result: dict[str, Any] | None = None) -> Any:
        """Answer a command received on the commands topic (docs/devices.md)."""
        ack = {"correlationId": command["correlationId"], "status": status, "result": result or {}}
        return self.publish(self.topics["commandsAck"], ack)
