"""The local IoT Core end to end: local CA, Mosquitto with mutual TLS and per-thing ACLs, and the rule bridge.

Devices connect with the AWS IoT Device SDK (awscrt), as the real fleet does. One broker serves the
whole module. "Nothing was delivered" is always checked after a later marker message from the same
publisher has been delivered (Mosquitto keeps one publisher's messages in order), never by sleeping.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridshare_local.broker import MosquittoBroker, find_mosquitto
from gridshare_local.pki import LocalCA, certificate_id, common_name_of
from gridshare_local.rule_bridge import RuleBridge, TopicRule, load_rules

if find_mosquitto() is None:
    pytest.skip("mosquitto is not installed", allow_module_level=True)

from awscrt import mqtt, mqtt5  # noqa: E402 - only needed when the module runs
from awscrt.exceptions import AwsCrtError  # noqa: E402
from awsiot import mqtt5_client_builder, mqtt_connection_builder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
TIMEOUT = 15.0  # generous: a loaded 2-core CI machine; the happy path takes milliseconds
INGEST = {"sqs": {"queue": "telemetry-ingest"}}


# ---------------------------------------------------------------------- fixtures
class Collector:
    """The bridge's ``deliver``: records every delivery and lets tests wait for one."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self._condition = threading.Condition()

    def __call__(self, rule: TopicRule, action: dict[str, Any], message: dict[str, Any]) -> None:
        with self._condition:
            self.deliveries.append((rule.name, action, message))
            self._condition.notify_all()

    def matching(self, predicate: Callable[[str, dict[str, Any], dict[str, Any]], bool]) -> list[Any]:
        with self._condition:
            return [d for d in self.deliveries if predicate(*d)]

    def wait_for(
        self, predicate: Callable[[str, dict[str, Any], dict[str, Any]], bool], timeout: float = TIMEOUT
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        with self._condition:
            found = self._condition.wait_for(lambda: next((d for d in self.deliveries if predicate(*d)), None), timeout)
        assert found, f"no matching delivery within {timeout}s; got {self.deliveries}"
        return found

    def wait_ingest(self, thing: str, marker: str) -> dict[str, Any]:
        """The telemetry rule's message for a payload carrying ``marker``, sent by ``thing``."""

        def predicate(rule: str, action: dict[str, Any], message: dict[str, Any]) -> bool:
            return (
                action == INGEST
                and message.get("thing_name") == thing
                and marker.encode() in base64.b64decode(message["payload"])
            )

        return self.wait_for(predicate)[2]


@dataclass
class LocalIot:
    broker: MosquittoBroker
    ca: LocalCA
    collector: Collector
    bridge: RuleBridge
    devices_dir: Path
    timings: dict[str, float]

    @property
    def port(self) -> int:
        return self.broker.port

    def device(self, thing: str) -> tuple[Path, Path]:
        """A device certificate and key issued by the local CA (the simulator's way), as files."""
        cert_pem, key_pem = self.ca.issue_client_cert(thing)
        directory = self.devices_dir / thing
        directory.mkdir(mode=0o700)
        (directory / "cert.pem").write_text(cert_pem)
        (directory / "key.pem").write_text(key_pem)
        return directory / "cert.pem", directory / "key.pem"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def iot() -> Iterator[LocalIot]:
    # Not tmp_path: pytest's directories are mode 700, and Mosquitto (dropping to its own user when
    # started as root) must traverse the path to its files.
    root = Path(tempfile.mkdtemp(prefix="gs-local-iot-"))
    os.chmod(root, 0o711)
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        ca = LocalCA.ensure(root / "ca")
        broker = MosquittoBroker(root / "state", ca, host=HOST, port=free_port())
        broker.start(timeout=TIMEOUT)
        timings["broker_start_s"] = time.monotonic() - started
        try:
            # Issued while the broker runs: exercises the ACL regeneration + SIGHUP path.
            started = time.monotonic()
            cert, key, ca_path = broker.client_credentials("gridshare-backend-bridge")
            timings["add_backend_cn_s"] = time.monotonic() - started
            # An extra rule overlapping the telemetry rule: each rule must still run once per message.
            everything = TopicRule(
                name="gs_all_v1",
                sql="SELECT encode(*, 'base64') AS raw, topic() AS topic FROM 'gs/v1/#'",
                actions=[{"sqs": {"queue": "all"}}],
            )
            collector = Collector()
            bridge = RuleBridge(
                [*load_rules(REPO / "iot_rules"), everything], HOST, broker.port, cert, key, ca_path, collector
            )
            started = time.monotonic()
            bridge.start(timeout=TIMEOUT)
            timings["bridge_start_s"] = time.monotonic() - started
            devices_dir = root / "devices"
            devices_dir.mkdir()
            yield LocalIot(broker, ca, collector, bridge, devices_dir, timings)
            bridge.stop()
        finally:
            broker.stop()
            print(f"\nlocal IoT timings: {timings}\nmosquitto log tail:\n{broker.log_tail(15)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------- clients
class Mqtt5Device:
    """An awscrt MQTT 5 client built exactly as device firmware does it (mtls_from_path)."""

    def __init__(self, iot: LocalIot, thing: str, cert: Path, key: Path) -> None:
        self.connected: Future[mqtt5.LifecycleConnectSuccessData] = Future()
        self.stopped = threading.Event()
        self.received: list[tuple[str, bytes]] = []
        self._condition = threading.Condition()
        self.client = mqtt5_client_builder.mtls_from_path(
            cert_filepath=str(cert),
            pri_key_filepath=str(key),
            endpoint=HOST,
            port=iot.port,
            ca_filepath=str(iot.broker.ca_path),
            client_id=thing,
            on_publish_received=self._on_publish,
            on_lifecycle_connection_success=self._on_success,
            on_lifecycle_connection_failure=self._on_failure,
            on_lifecycle_stopped=lambda _data: self.stopped.set(),
        )

    def _on_success(self, data: mqtt5.LifecycleConnectSuccessData) -> None:
        if not self.connected.done():
            self.connected.set_result(data)

    def _on_failure(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        if not self.connected.done():
            self.connected.set_exception(data.exception or RuntimeError("connection failed"))

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        with self._condition:
            self.received.append((data.publish_packet.topic, bytes(data.publish_packet.payload)))
            self._condition.notify_all()

    def __enter__(self) -> Mqtt5Device:
        self.client.start()
        self.connected.result(TIMEOUT)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stop()
        self.stopped.wait(TIMEOUT)

    def publish(self, topic: str, payload: bytes) -> mqtt5.PubackReasonCode:
        future = self.client.publish(mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE))
        return future.result(TIMEOUT).puback.reason_code

    def subscribe(self, *topic_filters: str) -> list[mqtt5.SubackReasonCode]:
        packet = mqtt5.SubscribePacket(
            subscriptions=[mqtt5.Subscription(f, qos=mqtt5.QoS.AT_LEAST_ONCE) for f in topic_filters]
        )
        return list(self.client.subscribe(packet).result(TIMEOUT).reason_codes)

    def wait_received(self, topic: str, timeout: float = TIMEOUT) -> bytes:
        with self._condition:
            found = self._condition.wait_for(lambda: next((p for t, p in self.received if t == topic), None), timeout)
        assert found is not None, f"nothing received on {topic}; got {self.received}"
        return found


def mqtt311_connection(iot: LocalIot, thing: str, cert: Path, key: Path) -> mqtt.Connection:
    return mqtt_connection_builder.mtls_from_path(
        cert_filepath=str(cert),
        pri_key_filepath=str(key),
        endpoint=HOST,
        port=iot.port,
        ca_filepath=str(iot.broker.ca_path),
        client_id=thing,
        clean_session=True,
        keep_alive_secs=30,
    )


def mqtt_probe(port: int, ca: Path, cert: Path | None = None, key: Path | None = None) -> str:
    """TLS-connect and send a bare MQTT 3.1.1 CONNECT: "accepted" on CONNACK 0, else "refused: why".

    With TLS 1.3 the client finishes its side of the handshake before the server has checked the
    client certificate, so the refusal shows up on the first read, not in ``wrap_socket``.
    """
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + b"\x00\x05probe"
    try:
        with (
            socket.create_connection((HOST, port), timeout=TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=HOST) as tls,
        ):
            tls.sendall(bytes([0x10, len(body)]) + body)
            reply = tls.recv(4)
    except (ssl.SSLError, ConnectionError) as exc:
        return f"refused: {exc}"
    return "accepted" if reply == b"\x20\x02\x00\x00" else f"refused: reply {reply!r}"


def telemetry(marker: str, **extra: Any) -> bytes:
    return json.dumps({"marker": marker, "ts": int(time.time() * 1000), "metrics": {"power_w": 420}, **extra}).encode()


class BrokerLog:
    """Mosquitto's log from now on: shows *why* a client was refused (not just that it was)."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.path = broker.log_path
        self.offset = self.path.stat().st_size

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in (content := self.path.read_bytes()[self.offset :].decode(errors="replace")):
            assert time.monotonic() < deadline, f"{text!r} not in the broker log:\n{content}"
            time.sleep(0.02)


# ---------------------------------------------------------------------- tests
def test_device_telemetry_reaches_the_rule_target(iot: LocalIot) -> None:
    cert, key = iot.device("meter-0001")
    started = time.monotonic()
    with Mqtt5Device(iot, "meter-0001", cert, key) as device:
        payload = telemetry("t1")
        before = int(time.time() * 1000)
        assert device.publish("gs/v1/meter-0001/telemetry", payload) == mqtt5.PubackReasonCode.SUCCESS
        message = iot.collector.wait_ingest("meter-0001", "t1")
        iot.timings["publish_to_deliver_s"] = time.monotonic() - started

        assert base64.b64decode(message["payload"]) == payload  # byte for byte
        assert set(message) == {"payload", "thing_name", "received_at"}
        assert before - 1000 <= message["received_at"] <= int(time.time() * 1000) + 1000

        # Not JSON at all: still forwarded (base64), for the ingest function to dead-letter.
        assert device.publish("gs/v1/meter-0001/telemetry", b"\xffgarbage t2") == 0
        garbage = iot.collector.wait_ingest("meter-0001", "t2")
        assert base64.b64decode(garbage["payload"]) == b"\xffgarbage t2"

        # A marker last: once both rules have seen it, every earlier copy has been delivered too.
        assert device.publish("gs/v1/meter-0001/telemetry", telemetry("t3")) == 0
        iot.collector.wait_ingest("meter-0001", "t3")
        iot.collector.wait_for(
            lambda rule, action, msg: (
                rule == "gs_all_v1"
                and msg["topic"] == "gs/v1/meter-0001/telemetry"
                and b'"t3"' in base64.b64decode(msg["raw"])
            )
        )

    # The overlapping gs/v1/# rule ran once per message, and so did the telemetry rule: Mosquitto sends
    # one copy per matching subscription, and the bridge uses subscription identifiers to tell them apart.
    def count(rule_name: str) -> int:
        return len(
            iot.collector.matching(
                lambda rule, action, msg: (
                    rule == rule_name and "meter-0001" in (msg.get("topic") or msg.get("thing_name", ""))
                )
            )
        )

    assert count("gs_telemetry_v1") == 3
    assert count("gs_all_v1") == 3
    assert iot.bridge.stats.errors == 0


def test_publishing_on_another_devices_topic_is_not_delivered(iot: LocalIot) -> None:
    cert, key = iot.device("meter-0002")
    with Mqtt5Device(iot, "meter-0002", cert, key) as device:
        # MQTT 5 tells the device why; the awscrt future itself succeeds, so check the reason code.
        denied = device.publish("gs/v1/meter-9999/telemetry", telemetry("spoof"))
        assert denied == mqtt5.PubackReasonCode.NOT_AUTHORIZED
        assert int(denied) == 135
        # The connection survives, and a later message on its own topic goes through ...
        assert device.publish("gs/v1/meter-0002/telemetry", telemetry("after-spoof")) == 0
        iot.collector.wait_ingest("meter-0002", "after-spoof")
    # ... so the spoofed one, published before it by the same client, would have arrived by now.
    assert iot.collector.matching(lambda r, a, m: m.get("thing_name") == "meter-9999") == []
    assert iot.collector.matching(lambda r, a, m: "meter-9999" in m.get("topic", "")) == []


def test_client_id_is_forced_to_the_certificate_name(iot: LocalIot) -> None:
    """A device asking for another thing's client id still publishes only as itself (as %u = CN)."""
    cert, key = iot.device("meter-0003")
    with Mqtt5Device(iot, "meter-9998", cert, key) as device:  # claims another client id
        assert device.publish("gs/v1/meter-9998/telemetry", b"{}") == mqtt5.PubackReasonCode.NOT_AUTHORIZED
        assert device.publish("gs/v1/meter-0003/telemetry", telemetry("own")) == 0
        iot.collector.wait_ingest("meter-0003", "own")
    assert iot.collector.matching(lambda r, a, m: m.get("thing_name") == "meter-9998") == []


def test_commands_reach_only_their_device(iot: LocalIot) -> None:
    cert, key = iot.device("battery-0001")
    backend_cert, backend_key, ca = iot.broker.client_credentials("gridshare-backend-commands")
    with Mqtt5Device(iot, "battery-0001", cert, key) as device:
        # Subscribing to another device's commands is granted by Mosquitto 2.0 (ACLs are checked on
        # delivery), but nothing arrives there.
        codes = device.subscribe("gs/v1/battery-0001/commands", "gs/v1/battery-0002/commands")
        assert all(int(c) <= 2 for c in codes)
        backend = mqtt311_connection(iot, "gridshare-backend-commands", backend_cert, backend_key)
        backend.connect().result(TIMEOUT)
        try:
            for thing in ("battery-0002", "battery-0001"):  # the other device's first
                future, _ = backend.publish(
                    f"gs/v1/{thing}/commands", json.dumps({"for": thing}).encode(), mqtt.QoS.AT_LEAST_ONCE
                )
                future.result(TIMEOUT)
            assert json.loads(device.wait_received("gs/v1/battery-0001/commands")) == {"for": "battery-0001"}
            assert [t for t, _ in device.received] == ["gs/v1/battery-0001/commands"]
        finally:
            backend.disconnect().result(TIMEOUT)


def test_client_without_certificate_is_refused(iot: LocalIot) -> None:
    cert, key = iot.device("probe-0001")
    assert mqtt_probe(iot.port, iot.broker.ca_path, cert, key) == "accepted"  # the probe itself works
    log = BrokerLog(iot.broker)
    assert mqtt_probe(iot.port, iot.broker.ca_path).startswith("refused")
    log.wait_for("peer did not return a certificate")


def test_certificate_from_another_ca_is_refused(iot: LocalIot, tmp_path: Path) -> None:
    # Same CA name, different key: only the signature tells them apart.
    rogue = LocalCA.ensure(tmp_path / "rogue-ca")
    cert_pem, key_pem = rogue.issue_client_cert("meter-0004")
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "key.pem").write_text(key_pem)
    log = BrokerLog(iot.broker)
    assert mqtt_probe(iot.port, iot.broker.ca_path, tmp_path / "cert.pem", tmp_path / "key.pem").startswith("refused")
    log.wait_for("certificate verify failed")
    connection = mqtt311_connection(iot, "meter-0004", tmp_path / "cert.pem", tmp_path / "key.pem")
    with pytest.raises(AwsCrtError):
        connection.connect().result(TIMEOUT)


def test_revoked_certificate_is_refused_after_reload(iot: LocalIot) -> None:
    cert, key = iot.device("meter-0005")
    assert mqtt_probe(iot.port, iot.broker.ca_path, cert, key) == "accepted"
    iot.broker.revoke(cert.read_text())  # rewrites the CRL and waits for the SIGHUP to be applied
    log = BrokerLog(iot.broker)
    assert mqtt_probe(iot.port, iot.broker.ca_path, cert, key).startswith("refused")
    log.wait_for("certificate verify failed")
    other_cert, other_key = iot.device("meter-0006")  # the CRL only lists that one serial
    assert mqtt_probe(iot.port, iot.broker.ca_path, other_cert, other_key) == "accepted"


def test_device_certificate_from_csr(iot: LocalIot, tmp_path: Path) -> None:
    thing = "meter-0007"
    # On the device: a key that never leaves it, and a CSR that tries to claim the backend's identity.
    device_dir = tmp_path / "device"
    device_dir.mkdir(mode=0o700)
    device_key = ec.generate_private_key(ec.SECP256R1())
    key_pem = device_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (device_dir / "key.pem").write_bytes(key_pem)
    csr_pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gridshare-backend")]))
        .sign(device_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )

    # In the backend: only the CSR travels. The CN is the thing name the backend chose.
    cert_pem = iot.ca.sign_csr(csr_pem, thing)
    assert common_name_of(cert_pem) == thing
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    assert cert.public_key().public_numbers() == device_key.public_key().public_numbers()
    assert len(certificate_id(cert_pem)) == 64
    (device_dir / "cert.pem").write_text(cert_pem)

    # Back on the device, with the MQTT 3.1.1 client this time.
    connection = mqtt311_connection(iot, thing, device_dir / "cert.pem", device_dir / "key.pem")
    connection.connect().result(TIMEOUT)
    try:
        future, _ = connection.publish(f"gs/v1/{thing}/telemetry", telemetry("csr"), mqtt.QoS.AT_LEAST_ONCE)
        future.result(TIMEOUT)
        iot.collector.wait_ingest(thing, "csr")
    finally:
        connection.disconnect().result(TIMEOUT)

    # The private key exists only in the device's directory.
    secret = b"".join(key_pem.splitlines()[1:-1])
    for path in [*iot.broker.state_dir.rglob("*"), *iot.ca.directory.rglob("*")]:
        if path.is_file():
            assert secret not in b"".join(path.read_bytes().splitlines()), path


def test_sign_csr_rejects_bad_requests(iot: LocalIot) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
    )
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    tampered = base64.encodebytes(bytes(der)).decode()
    tampered_pem = f"-----BEGIN CERTIFICATE REQUEST-----\n{tampered}-----END CERTIFICATE REQUEST-----\n"
    good_pem = csr.public_bytes(serialization.Encoding.PEM).decode()

    with pytest.raises(ValueError, match="signature"):
        iot.ca.sign_csr(tampered_pem, "meter-0008")
    with pytest.raises(ValueError, match="not a PEM certificate signing request"):
        iot.ca.sign_csr("garbage", "meter-0008")
    with pytest.raises(ValueError, match="reserved for the backend"):
        iot.ca.sign_csr(good_pem, "gridshare-backend-evil")
    with pytest.raises(ValueError, match="invalid thing name"):
        iot.ca.sign_csr(good_pem, "meter/+/#")
    # Without a CSR too: a device named like a backend client would get the backend's ACL.
    with pytest.raises(ValueError, match="reserved for the backend"):
        iot.ca.issue_client_cert("gridshare-backend-bridge")


def test_rule_bridge_with_a_foreign_certificate_fails_fast(iot: LocalIot, tmp_path: Path) -> None:
    rogue = LocalCA.ensure(tmp_path / "rogue-ca")
    cert_pem, key_pem = rogue.issue_client_cert("gridshare-backend-rogue", allow_reserved=True)
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "key.pem").write_text(key_pem)
    bridge = RuleBridge(
        iot.bridge.rules, HOST, iot.port, tmp_path / "cert.pem", tmp_path / "key.pem", iot.broker.ca_path, Collector()
    )
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="rule bridge"):
        bridge.start(timeout=TIMEOUT)
    assert time.monotonic() - started < TIMEOUT / 2  # refused, not timed out


def test_broker_opens_only_its_own_listener(iot: LocalIot) -> None:
    log = iot.broker.log_path.read_text()
    assert f"Opening ipv4 listen socket on port {iot.port}." in log
    assert "1883" not in log  # options placed before `listener` would open a default 0.0.0.0:1883


def test_broker_start_fails_clearly_when_the_port_is_taken(iot: LocalIot) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        broker = MosquittoBroker(iot.broker.state_dir.parent / "busy", iot.ca, host=HOST, port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="Address already in use"):
            broker.start(timeout=TIMEOUT)
        assert not broker.running


def test_restarted_broker_keeps_revocations(iot: LocalIot) -> None:
    cert, key = iot.device("meter-0009")
    state = iot.broker.state_dir.parent / "restart"
    with MosquittoBroker(state, iot.ca, host=HOST, port=free_port()) as first:
        first.revoke(cert.read_text())
        assert mqtt_probe(first.port, first.ca_path, cert, key).startswith("refused")
    with MosquittoBroker(state, iot.ca, host=HOST, port=free_port()) as second:  # a new process
        assert mqtt_probe(second.port, second.ca_path, cert, key).startswith("refused")
        other_cert, other_key = iot.device("meter-0010")
        assert mqtt_probe(second.port, second.ca_path, other_cert, other_key) == "accepted"


def test_the_broker_acl_is_the_device_policy() -> None:
    from gridshare_local.broker import policy_acl

    # Given the device policy IoT Core enforces (iot_rules/policies/device.json), the ACL derived from it:
    backend, device = policy_acl()
    shadow = "$aws/things/{}/shadow/"
    requests = ("update", "get", "delete")
    answers = ("update/accepted", "update/rejected", "update/delta", "update/documents")
    answers += ("get/accepted", "get/rejected", "delete/accepted", "delete/rejected")
    # Then a device writes its telemetry, heartbeat and command acks and reads its commands, makes requests
    # of its own classic shadow and reads their answers, and nothing else
    assert device == (
        "pattern write gs/v1/%u/telemetry",
        "pattern write gs/v1/%u/heartbeat",
        "pattern write gs/v1/%u/commands/ack",
        "pattern read gs/v1/%u/commands",
        *(f"pattern write {shadow.format('%u')}{r}" for r in requests),
        *(f"pattern read {shadow.format('%u')}{a}" for a in answers),
    )
    # And the backend mirrors it: it reads what devices publish and writes their commands and shadow answers
    # (which it may read too: the shadow-documents rule does)
    assert backend == (
        "topic read gs/v1/+/telemetry",
        "topic read gs/v1/+/heartbeat",
        "topic read gs/v1/+/commands/ack",
        "topic write gs/v1/+/commands",
        *(f"topic read {shadow.format('+')}{r}" for r in requests),
        *(f"topic readwrite {shadow.format('+')}{a}" for a in answers),
    )


def test_iot_data_publish_reaches_the_device_through_the_broker(iot: LocalIot) -> None:
    """moto's iot-data publish (what the devices API calls) is forwarded to Mosquitto (gridshare_local.iot_data)."""
    import boto3
    from moto import mock_aws

    from gridshare_local import iot_data

    cert, key = iot.device("meter-commands-1")
    publisher = iot_data.BrokerPublisher(HOST, iot.port, *iot.broker.client_credentials(iot_data.CLIENT_CN))
    publisher.start(timeout=TIMEOUT)
    iot_data.install(publisher)
    try:
        with Mqtt5Device(iot, "meter-commands-1", cert, key) as device, mock_aws():
            device.subscribe("gs/v1/meter-commands-1/commands")
            client = boto3.client("iot-data", endpoint_url="https://data-ats.iot.us-east-1.amazonaws.com")
            client.publish(topic="gs/v1/meter-commands-1/commands", qos=1, payload=b'{"correlationId": "c1"}')
            assert json.loads(device.wait_received("gs/v1/meter-commands-1/commands")) == {"correlationId": "c1"}
    finally:
        iot_data.install(None)
        publisher.stop()
