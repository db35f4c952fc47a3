"""A certificate revoked through IoT's API reaches the local broker: refused on connect, live sessions dropped.

On AWS, `UpdateCertificate REVOKED` makes IoT Core refuse the certificate and close its connections. moto
only flips a status, so the local stack wraps moto's `IoTBackend.update_certificate` (moto runs in the
stack's process, as for gridshare_local.iot_data): when a certificate becomes REVOKED,

1. its serial goes into the broker's CRL and Mosquitto reloads it (`MosquittoBroker.revoke`): new
   connections with it fail the TLS handshake;
2. the thing's live session is dropped. Mosquitto keeps already-authenticated sessions across a CRL
   reload, but it closes a session when another connection takes its client id, and the client id is
   the certificate's CN (`use_username_as_clientid`), i.e. the thing name. So a throwaway certificate
   for that CN is issued by the local CA, connects once (kicking the live session), disconnects, and is
   revoked as well. The kicked device's reconnect with the revoked certificate is then refused.

Difference from IoT Core: IoT Core drops only the sessions of the revoked certificate; locally every
session of the thing is dropped (a device connected with another, still active certificate reconnects
with it and carries on).
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gridshare_local.pki import common_name_of
from gridshare_local.state_secrets import write_owner_only

logger = logging.getLogger("gridshare.local.revocation")
KICK_TIMEOUT_S = 5.0
THROWAWAY_VALIDITY = dt.timedelta(minutes=10)


class BrokerRevoker:
    """Applies IoT revocations to a running `MosquittoBroker`."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self._lock = threading.Lock()

    def revoke(self, cert_pem: str) -> None:
        with self._lock:
            self.broker.revoke(cert_pem)
            self.drop_sessions(common_name_of(cert_pem))

    def drop_sessions(self, thing_name: str) -> None:
        """Close the live session of `thing_name` by connecting once with its client id."""
        cert_pem, key_pem = self.broker.ca.issue_client_cert(thing_name, THROWAWAY_VALIDITY)
        try:
            with tempfile.TemporaryDirectory(prefix="gs-kick-") as directory:
                cert_path, key_path = Path(directory) / "kick.crt", Path(directory) / "kick.key"
                cert_path.write_text(cert_pem)
                write_owner_only(key_path, key_pem)
                _connect_once(self.broker.host, self.broker.port, thing_name, cert_path, key_path, self.broker.ca_path)
        finally:
            self.broker.revoke(cert_pem)  # the throwaway never works again


def _connect_once(host: str, port: int, client_id: str, cert: Path, key: Path, ca: Path) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    client.tls_set_context(context)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect(host, port, keepalive=10, clean_start=True)
    client.loop_start()
    try:
        if not connected.wait(KICK_TIMEOUT_S):
            raise ConnectionError(f"could not connect as {client_id} to drop its session")
    finally:
        client.disconnect()
        client.loop_stop()


_revoker: BrokerRevoker | None = None
_installed = False


def install(revoker: BrokerRevoker | None) -> None:
    """Apply moto's REVOKED certificates to `revoker`'s broker (None: stop; moto still records the status)."""
    global _revoker, _installed
    _revoker = revoker
    if _installed:
        return
    from moto.iot.models import IoTBackend

    original = IoTBackend.update_certificate

    def update_certificate(self: Any, certificate_id: str, new_status: str) -> None:
        before = self.describe_certificate(certificate_id).status
        original(self, certificate_id, new_status)
        target = _revoker
        if target is None or new_status != "REVOKED" or before == "REVOKED":
            return
        try:
            target.revoke(self.describe_certificate(certificate_id).certificate_pem)
        except Exception:
            logger.exception("certificate %s revoked in moto but not applied to the broker", certificate_id)

    IoTBackend.update_certificate = update_certificate  # type: ignore[method-assign]
    _installed = True
