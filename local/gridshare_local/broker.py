"""Mosquitto as a local AWS IoT Core message broker: mutual TLS, one identity per certificate, per-thing ACLs.

How the Mosquitto set-up maps onto IoT Core and its policy (the CDK app's policy template is scoped by
``${iot:Connection.Thing.ThingName}``):

============================================  =====================================================
AWS IoT Core                                  local Mosquitto (config written by :class:`MosquittoBroker`)
============================================  =====================================================
X.509 client certificate, mutual TLS          ``require_certificate true`` + ``cafile`` = the local CA;
                                              no certificate or another CA: the TLS handshake fails
certificate attached to a thing               certificate CN = thing name (``use_identity_as_username``)
client id must equal the thing name           ``use_username_as_clientid``: the client id is forced to
(``iot:Connect`` on ``client/${ThingName}``)  the CN (AWS refuses a mismatch; Mosquitto overrides it)
``iot:Publish`` on                            ``pattern write gs/v1/%u/telemetry`` (and heartbeat,
``topic/gs/v1/${ThingName}/telemetry``        commands/ack): ``%u`` is the certificate CN
``iot:Receive`` on ``.../commands``           ``pattern read gs/v1/%u/commands``
backend (rules engine, Lambda via iot-data)   ``user <backend CN>`` blocks: read every device's
                                              telemetry/heartbeat/acks, write every device's commands
certificate set INACTIVE / REVOKED            serial in the CRL (``crlfile``), applied on SIGHUP
============================================  =====================================================

Differences to keep in mind when a test passes locally: a publish on another device's topic is dropped,
not answered with a disconnect (MQTT 5 gets PUBACK reason 135, MQTT 3.1.1 a normal PUBACK); a subscribe
to another device's topic is granted but nothing is delivered (Mosquitto 2.0 checks ACLs on delivery);
a revoked device that is already connected stays connected until the broker restarts (the local stack
drops it by taking over its client id: gridshare_local.revocation).

Mosquitto refuses two live connections with the same client id (the older one is kicked off), and the
client id is the CN, so every backend client gets its own CN (:meth:`MosquittoBroker.client_credentials`),
which gets its own ``user`` block in the ACL.
"""

from __future__ import annotations

import functools
import grp
import logging
import os
import pwd
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from cryptography import x509

from gridshare_local.pki import LocalCA, serial_number_of, validate_thing_name, write_file_atomically

logger = logging.getLogger(__name__)

MOSQUITTO_USER = "mosquitto"
_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")

_THING = "${iot:Connection.Thing.ThingName}"


@functools.cache
def policy_acl() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(backend ``topic`` lines, device ``pattern`` lines), derived from the device policy that IoT Core
    enforces (iot_rules/policies/device.json), so the local broker cannot drift from it.

    A topic the policy lets a device publish (``iot:Publish``) is ``pattern write gs/v1/%u/...`` for devices
    and ``topic read gs/v1/+/...`` for the backend (the rules engine reads it); a topic it lets a device
    receive (``iot:Receive``) is ``pattern read`` for devices and ``topic write`` for the backend (commands
    are published to it; ``readwrite`` for the shadow's ``$aws/`` answers, which the rules engine also
    reads). ``iot:Subscribe`` has no Mosquitto equivalent (2.0 checks ACLs on delivery).
    """
    from gridshare.kernel import resources

    backend: list[str] = []
    device: list[str] = []
    for statement in resources.device_policy_document("local", "local")["Statement"]:
        access = {"iot:Publish": ("write", "read"), "iot:Receive": ("read", "write")}.get(statement["Action"])
        if access is None:
            continue
        items = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in items:
            topic = resource.split(":topic/", 1)[1]
            if _THING not in topic:
                raise ValueError(f"device policy topic not scoped by the thing name: {resource}")
            device.append(f"pattern {access[0]} {topic.replace(_THING, '%u')}")
            # IoT Core publishes the shadow's answers ($aws/...) and its rules read them (shadow documents)
            backend_access = "readwrite" if topic.startswith("$aws/") and access[1] == "write" else access[1]
            backend.append(f"topic {backend_access} {topic.replace(_THING, '+')}")
    return tuple(backend), tuple(device)


#: Reuse a stored backend client certificate only if it stays valid at least this long.
_MIN_REMAINING_VALIDITY_S = 24 * 3600


def find_mosquitto() -> str | None:
    """Path of the mosquitto executable, or None. Debian installs it in /usr/sbin, often not on PATH."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in _CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _mosquitto_ids() -> tuple[int, int] | None:
    """(uid, gid) Mosquitto will drop to, if it will drop privileges at all (only when started as root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(MOSQUITTO_USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _can_traverse(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid or gid in _supplementary_gids():
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _supplementary_gids() -> set[int]:
    return {g.gr_gid for g in grp.getgrall() if MOSQUITTO_USER in g.gr_mem}


class MosquittoBroker:
    """One Mosquitto process with a TLS listener on ``host:port``, its files under ``state_dir/mqtt``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        state_dir: Path,
        ca: LocalCA,
        host: str = "127.0.0.1",
        port: int = 8883,
        backend_cn: str = "gridshare-backend",
        executable: str | None = None,
    ) -> None:
        validate_thing_name(backend_cn)
        self.state_dir = Path(state_dir)
        self.mqtt_dir = self.state_dir / "mqtt"
        self.ca = ca
        self.host = host
        self.port = port
        self.backend_cn = backend_cn
        self.executable = executable
        # Devices may not obtain a certificate with a backend CN (see LocalCA.issue_client_cert).
        ca.reserved_cn_prefixes.add(backend_cn)
        self._backend_cns: list[str] = [backend_cn]
        self._revoked: set[int] = set()
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._log_start = 0
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ paths
    @property
    def conf_path(self) -> Path:
        return self.mqtt_dir / "mosquitto.conf"

    @property
    def acl_path(self) -> Path:
        return self.mqtt_dir / "acl"

    @property
    def crl_path(self) -> Path:
        return self.mqtt_dir / "ca.crl"

    @property
    def ca_path(self) -> Path:
        """The CA certificate clients should trust (a copy of the local CA's certificate)."""
        return self.mqtt_dir / "ca.crt"

    @property
    def log_path(self) -> Path:
        return self.mqtt_dir / "mosquitto.log"

    @property
    def clients_dir(self) -> Path:
        return self.mqtt_dir / "clients"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> None:
        """Write certificates, CRL, ACL and config, start Mosquitto and wait until it accepts connections.

        Raises RuntimeError with the tail of Mosquitto's log if it exits or is not ready within
        ``timeout`` seconds (a port in use, an unreadable key...).
        """
        with self._lock:
            if self.running:
                raise RuntimeError("broker already running")
            executable = self.executable or find_mosquitto()
            if executable is None:
                raise RuntimeError("mosquitto not found (apt-get install mosquitto), or pass executable=")
            self._prepare_files()
            self._log_handle = self.log_path.open("ab")
            self._log_start = self._log_handle.tell()
            logger.info("starting mosquitto on %s:%d (state in %s)", self.host, self.port, self.mqtt_dir)
            try:
                self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    [executable, "-c", str(self.conf_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=self._log_handle,
                )
            except OSError:
                self._log_handle.close()
                self._log_handle = None
                raise
            try:
                self._wait_ready(timeout)
            except BaseException:
                self.stop()
                raise

    def stop(self, timeout: float = 5.0) -> None:
        """Stop Mosquitto (SIGTERM, then SIGKILL after ``timeout``). Safe to call twice."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    logger.warning("mosquitto did not stop within %.1fs; killing it", timeout)
                    process.kill()
                    process.wait(timeout)
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reload(self, timeout: float = 5.0) -> None:
        """Rewrite ACL and CRL and make the running broker apply them (SIGHUP), waiting until it has.

        Mosquitto handles SIGHUP between two iterations of its single-threaded loop; once its log shows
        the reload, a completed TLS handshake proves the loop went past it, so callers can rely on the
        new ACL right after this returns.
        """
        with self._lock:
            self._write_acl()
            self._write_crl()
            process = self._process
            if process is None or process.poll() is not None:
                return
            offset = self.log_path.stat().st_size
            process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + timeout
            while "Reloading config" not in self._read_log(offset):
                if process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited during reload:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not reload within {timeout}s:\n{self.log_tail()}")
                time.sleep(0.02)
            self._tls_probe(max(0.5, deadline - time.monotonic()))

    # ------------------------------------------------------------------ credentials
    def backend_credentials(self) -> tuple[Path, Path, Path]:
        """(cert, key, ca) paths for the backend's own client, CN = ``backend_cn``."""
        return self.client_credentials(self.backend_cn)

    def client_credentials(self, cn: str) -> tuple[Path, Path, Path]:
        """(cert, key, ca) paths for a backend client with its own CN, granted the backend ACL.

        ``cn`` must be ``backend_cn`` or start with ``backend_cn + "-"`` (e.g. ``gridshare-backend-bridge``):
        each concurrent backend connection needs a distinct CN, since the CN is its client id. A new CN
        is added to the ACL; if the broker runs, it reloads before this returns.
        """
        if cn != self.backend_cn and not cn.startswith(self.backend_cn + "-"):
            raise ValueError(
                f"backend client CN must be {self.backend_cn!r} or start with {self.backend_cn + '-'!r}, got {cn!r}"
            )
        validate_thing_name(cn)
        with self._lock:
            paths = self._client_files(cn)
            if cn not in self._backend_cns:
                self._backend_cns.append(cn)
                if self.running:
                    self.reload()
                else:
                    self._rewrite_policy_if_prepared()
            return paths

    def revoke(self, cert_pem: str) -> None:
        """Revoke a certificate: new connections with it fail once the broker has reloaded the CRL.

        As with Mosquitto generally, a client already connected with it stays connected until it
        disconnects or the broker restarts (IoT Core would close it).
        """
        with self._lock:
            self._revoked.add(serial_number_of(cert_pem))
            if self.running:
                self.reload()
            else:
                self._rewrite_policy_if_prepared()

    # ------------------------------------------------------------------ internals
    def _client_files(self, cn: str) -> tuple[Path, Path, Path]:
        cert_path, key_path = self.clients_dir / f"{cn}.crt", self.clients_dir / f"{cn}.key"
        if not self._reusable(cert_path, key_path):
            cert_pem, key_pem = self.ca.issue_client_cert(cn, allow_reserved=True)
            self.clients_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_file_atomically(key_path, key_pem, mode=0o600)
            write_file_atomically(cert_path, cert_pem)
        if not self.ca_path.exists():
            self.mqtt_dir.mkdir(parents=True, exist_ok=True)
            write_file_atomically(self.ca_path, self.ca.ca_cert_pem)
        return cert_path, key_path, self.ca_path

    def _reusable(self, cert_path: Path, key_path: Path) -> bool:
        if not (cert_path.exists() and key_path.exists()):
            return False
        pem = cert_path.read_bytes()
        if not self.ca.verify_issued(pem):
            return False
        # real time: TLS checks certificates on the OS clock, not the stack's (see pki._now)
        remaining = x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp() - time.time()
        return remaining > _MIN_REMAINING_VALIDITY_S and serial_number_of(pem) not in self._revoked

    def _prepare_files(self) -> None:
        ids = _mosquitto_ids()
        self.mqtt_dir.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            uid, gid = ids
            os.chown(self.mqtt_dir, -1, gid)
            os.chmod(self.mqtt_dir, 0o750)  # noqa: S103 - group mosquitto must read its files
            self._check_traversable(uid, gid)
        self._load_revoked_from_crl()
        write_file_atomically(self.ca_path, self.ca.ca_cert_pem)
        # Clients verify the broker's SAN: cover the usual loopback names plus the host we listen on.
        hostnames, ips = ["localhost"], ["127.0.0.1"]
        (ips if _is_ip(self.host) else hostnames).append(self.host)
        cert_pem, key_pem = self.ca.issue_server_cert(hostnames=dict.fromkeys(hostnames), ips=dict.fromkeys(ips))
        write_file_atomically(self.mqtt_dir / "server.crt", cert_pem)
        key_path = self.mqtt_dir / "server.key"
        if ids is not None:
            # Mosquitto drops to the mosquitto user *before* it reads the key.
            write_file_atomically(key_path, key_pem, mode=0o640)
            os.chown(key_path, -1, ids[1])
        elif os.geteuid() == 0:
            logger.warning(
                "no %r user: mosquitto will run as 'nobody'; making the local server key world-readable", MOSQUITTO_USER
            )
            write_file_atomically(key_path, key_pem, mode=0o644)
        else:
            write_file_atomically(key_path, key_pem, mode=0o600)
        self._write_crl()
        self._write_acl()
        for cn in self._backend_cns:
            self._client_files(cn)
        write_file_atomically(self.conf_path, self._config())

    def _check_traversable(self, uid: int, gid: int) -> None:
        for directory in [self.mqtt_dir.resolve(), *self.mqtt_dir.resolve().parents]:
            st = directory.stat()
            if not _can_traverse(st, uid, gid):
                raise RuntimeError(
                    f"mosquitto runs as user {MOSQUITTO_USER!r} and cannot traverse {directory} "
                    f"(mode {stat.filemode(st.st_mode)}); use a state directory whose parents it can "
                    f"enter, e.g. chmod o+x {directory}"
                )

    def _config(self) -> str:
        d = self.mqtt_dir
        # Listener-scoped options must follow `listener`: before it, Mosquitto 2.0 silently applies
        # them to a default listener on 0.0.0.0:1883 instead.
        return "\n".join(
            [
                "# generated by gridshare_local.broker; rewritten at every start",
                "per_listener_settings false",
                "allow_anonymous false",
                "persistence false",
                "log_dest stderr",
                f"acl_file {self.acl_path}",
                f"listener {self.port} {self.host}",
                f"cafile {self.ca_path}",
                f"certfile {d / 'server.crt'}",
                f"keyfile {d / 'server.key'}",
                f"crlfile {self.crl_path}",
                "require_certificate true",
                "use_identity_as_username true",
                "use_username_as_clientid true",
                "",
            ]
        )

    def _acl(self) -> str:
        lines = [
            "# generated by gridshare_local.broker: the local equivalent of the IoT policy",
            "# username = certificate CN = thing name (use_identity_as_username)",
        ]
        backend, device = policy_acl()
        for cn in self._backend_cns:
            lines += ["", f"user {cn}", *backend]
        lines += ["", "# every client, %u = its certificate CN (from the device policy)", *device, ""]
        return "\n".join(lines)

    def _write_acl(self) -> None:
        ids = _mosquitto_ids()
        write_file_atomically(self.acl_path, self._acl(), mode=0o640 if ids else 0o600)
        if ids is not None:
            os.chown(self.acl_path, -1, ids[1])

    def _write_crl(self) -> None:
        self.ca.write_crl(self.crl_path, self._revoked)

    def _rewrite_policy_if_prepared(self) -> None:
        if self.acl_path.exists():
            self._write_acl()
            self._write_crl()

    def _load_revoked_from_crl(self) -> None:
        """Keep revocations across restarts: read them back from our previous CRL, if the CA signed it."""
        if not self.crl_path.exists():
            return
        try:
            crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
            ca_key = x509.load_pem_x509_certificate(self.ca.ca_cert_pem.encode()).public_key()
            if crl.is_signature_valid(ca_key):  # type: ignore[arg-type]
                self._revoked |= {entry.serial_number for entry in crl}
        except ValueError:
            logger.warning("ignoring unreadable CRL %s", self.crl_path)

    def _read_log(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 25) -> str:
        """The last lines Mosquitto logged since the last start (for error messages)."""
        return "\n".join(self._read_log(self._log_start).splitlines()[-lines:])

    def _wait_ready(self, timeout: float) -> None:
        # "running" is logged after every listener is open, so a port held by another process (which
        # would accept our TCP probe) is not mistaken for our broker: ours exits with "Address in use".
        deadline = time.monotonic() + timeout
        process = self._process
        assert process is not None
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with status {process.returncode}:\n{self.log_tail()}")
            if " running" in self._read_log(self._log_start):
                try:
                    with socket.create_connection((self.host, self.port), timeout=1.0):
                        logger.info("mosquitto ready on %s:%d", self.host, self.port)
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto not ready within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.02)

    def _tls_probe(self, timeout: float) -> None:
        cert, key, ca = self._client_files(self.backend_cn)
        context = ssl.create_default_context(cafile=str(ca))
        context.load_cert_chain(str(cert), str(key))
        with (
            socket.create_connection((self.host, self.port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=self.host),
        ):
            pass


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
