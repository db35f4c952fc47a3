"""IoT Core's data plane publish, locally: moto's `iot-data publish` reaches the local broker.

moto only appends published messages to a list (FIELD-NOTES), so nothing would reach a device. The local
stack runs moto in its own process, so it wraps moto's `IoTDataPlaneBackend.publish`: the message is still
recorded by moto, and is also published to Mosquitto by a backend client of its own (certificate CN
`gridshare-backend-iotdata`, granted the backend ACL: it may write `gs/v1/+/commands`). The code that
publishes (gridshare.devices.iot.IotDataPublisher) is the same boto3 call as on AWS, and a device receives
the message as it would from IoT Core: same topic, same bytes, QoS 1.

A publish the broker does not take (not connected, not authorised) fails the iot-data call with a 503 from
moto's side, as IoT Core's would fail, so the API does not report a command as sent when it was not.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gridshare_local.pki import common_name_of

logger = logging.getLogger("gridshare.local.iot_data")
PUBLISH_TIMEOUT_S = 10.0
CLIENT_CN = "gridshare-backend-iotdata"


class BrokerPublisher:
    """A backend MQTT 5 client over mutual TLS that publishes at QoS 1 and waits for the PUBACK."""

    def __init__(self, host: str, port: int, cert_path: Path, key_path: Path, ca_path: Path) -> None:
        self.host, self.port = host, port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=common_name_of(Path(cert_path).read_bytes()), protocol=mqtt.MQTTv5
        )
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_path))
        context.load_cert_chain(str(cert_path), str(key_path))
        self.client.tls_set_context(context)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._connected = threading.Event()
        self.client.on_connect = lambda *_args: self._connected.set()
        self.client.on_disconnect = lambda *_args: self._connected.clear()

    def start(self, timeout: float = 10.0) -> None:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.stop()
            raise RuntimeError(f"iot-data publisher: no connection to {self.host}:{self.port} within {timeout}s")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=min(qos, 1))
        info.wait_for_publish(PUBLISH_TIMEOUT_S)
        if info.rc != mqtt.MQTT_ERR_SUCCESS or not info.is_published():
            raise ConnectionError(f"the local broker did not take the message on {topic}: {mqtt.error_string(info.rc)}")


_publisher: BrokerPublisher | None = None
_installed = False


def install(publisher: BrokerPublisher | None) -> None:
    """Forward moto's iot-data publishes to `publisher` (None: stop forwarding; moto still records them)."""
    global _publisher, _installed
    _publisher = publisher
    if _installed:
        return
    from moto.core.exceptions import JsonRESTError
    from moto.iotdata.models import IoTDataPlaneBackend

    class ServiceUnavailable(JsonRESTError):
        code = 503

    original = IoTDataPlaneBackend.publish

    def publish(self: Any, topic: str, payload: Any) -> None:
        original(self, topic, payload)
        target = _publisher
        if target is None:
            return
        data = payload if isinstance(payload, bytes) else str(payload or "").encode()
        try:
            target.publish(topic, data)
        except Exception as exc:
            logger.warning("iot-data publish on %s not delivered to the broker: %s", topic, exc)
            raise ServiceUnavailable("ServiceUnavailableException", f"not delivered to the broker: {exc}") from exc

    IoTDataPlaneBackend.publish = publish  # type: ignore[method-assign]
    _installed = True
