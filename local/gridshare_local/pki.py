"""A local certificate authority: the stand-in for AWS IoT's device certificates.

AWS IoT authenticates a device by the X.509 certificate it presents in the TLS handshake, and the IoT
policy then scopes it by thing name. Locally, Mosquitto does the same with the certificates this CA
issues: the certificate's CN is the MQTT username (``use_identity_as_username``), which the ACL
patterns use as the thing name (see :mod:`gridshare_local.broker`).

Why the choices here:

* EC P-256 keys everywhere: small, fast to generate (tests issue many), and accepted by both OpenSSL
  (Mosquitto, paho) and s2n (awscrt, the AWS IoT Device SDK).
* :meth:`LocalCA.sign_csr` ignores the CSR's subject and writes ``CN=<thing name>`` itself, as AWS IoT's
  ``CreateCertificateFromCsr`` binds the certificate to the thing the *caller* names: a device must not be
  able to claim another device's identity (its CN is its authority in the ACL).
* Certificate ids are the SHA-256 of the DER encoding, 64 hex characters, like AWS IoT certificate ids.
* The CRL's nextUpdate is the CA's own expiry: OpenSSL rejects *every* client once a CRL is past its
  nextUpdate, which would look like a broker outage rather than a revocation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

CA_COMMON_NAME = "Gridshare Local CA"
CA_VALIDITY = dt.timedelta(days=3650)
DEVICE_VALIDITY = dt.timedelta(days=365)
SERVER_VALIDITY = dt.timedelta(days=365)
#: Certificates start a few minutes in the past so that small clock differences between processes (or
#: a VM whose clock lags) do not make a fresh certificate "not yet valid".
CLOCK_SKEW = dt.timedelta(minutes=5)
#: CN prefix of the backend's own MQTT clients. A device certificate with such a CN would get the
#: backend's ACL (read every device's telemetry, write every device's commands), so CSRs may not claim it.
BACKEND_CN_PREFIX = "gridshare-backend"
#: AWS IoT thing names: 1-128 of [a-zA-Z0-9:_-]. Enforcing it here also keeps MQTT wildcards (+ #) and
#: topic separators (/) out of the CN, which Mosquitto substitutes for %u in ACL patterns.
THING_NAME_RE = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")

_CA_KEY = "ca.key"
_CA_CERT = "ca.crt"


def _now() -> dt.datetime:
    # Real time, not the stack's clock: certificate validity is checked by OpenSSL in Mosquitto and by
    # awscrt on the OS clock, which `gridshare clock advance` does not move.
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _load_cert(cert_pem: str | bytes) -> x509.Certificate:
    data = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    return x509.load_pem_x509_certificate(data)


def write_file_atomically(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A reader (Mosquitto reloading on SIGHUP, another process loading the CA) never sees a half-written
    file, and private keys are created with their final mode instead of being chmod-ed after the fact.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def certificate_id(cert_pem: str | bytes) -> str:
    """The AWS IoT style certificate id: SHA-256 of the DER encoding, 64 lowercase hex characters."""
    der = _load_cert(cert_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def common_name_of(cert_pem: str | bytes) -> str:
    """The subject CN of a certificate: the MQTT username (and client id) Mosquitto derives from it."""
    attrs = _load_cert(cert_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        raise ValueError("certificate has no subject CN")
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()


def serial_number_of(cert_pem: str | bytes) -> int:
    """The serial number of a certificate, as :meth:`LocalCA.write_crl` wants it for revocation."""
    return _load_cert(cert_pem).serial_number


def validate_thing_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a valid AWS IoT thing name (and so a safe MQTT username)."""
    if not THING_NAME_RE.fullmatch(name):
        raise ValueError(f"invalid thing name {name!r}: expected 1-128 characters of letters, digits, ':', '_' or '-'")


class LocalCA:
    """A CA kept in one directory (``ca.key`` mode 600, ``ca.crt``), created on first use.

    Use :meth:`ensure`; the constructor takes already-loaded material.
    """

    def __init__(
        self, directory: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, cert: x509.Certificate
    ) -> None:
        self.directory = directory
        self._key = key
        self._cert = cert
        self.reserved_cn_prefixes: set[str] = {BACKEND_CN_PREFIX}

    # ------------------------------------------------------------------ loading
    @classmethod
    def ensure(cls, directory: Path) -> LocalCA:
        """Load the CA from ``directory``, or create it there if the directory holds none.

        The CA survives restarts of the local stack so that device certificates written by the simulator
        or stored in the devices table stay valid.
        """
        directory = Path(directory)
        key_path, cert_path = directory / _CA_KEY, directory / _CA_CERT
        if key_path.exists() and cert_path.exists():
            return cls._load(directory, key_path, cert_path)
        if key_path.exists() or cert_path.exists():
            raise RuntimeError(
                f"incomplete CA in {directory}: {_CA_KEY} and {_CA_CERT} must both exist; remove the "
                "directory to create a new CA (every certificate it issued becomes invalid)"
            )
        return cls._create(directory, key_path, cert_path)

    @classmethod
    def _load(cls, directory: Path, key_path: Path, cert_path: Path) -> LocalCA:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise RuntimeError(f"{key_path}: unsupported CA key type {type(key).__name__}")
        cert = _load_cert(cert_path.read_bytes())
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise RuntimeError(f"{cert_path} does not belong to {key_path}")
        if cert.not_valid_after_utc <= _now():
            logger.warning("local CA in %s expired on %s", directory, cert.not_valid_after_utc)
        logger.debug("loaded local CA from %s", directory)
        return cls(directory, key, cert)

    @classmethod
    def _create(cls, directory: Path, key_path: Path, cert_path: Path) -> LocalCA:
        directory.mkdir(parents=True, exist_ok=True)
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        # Key first: a crash between the two writes leaves "key without cert", which ensure() reports,
        # never a certificate whose key is lost.
        write_file_atomically(key_path, _key_pem(key), mode=0o600)
        write_file_atomically(cert_path, _cert_pem(cert))
        logger.info("created local CA in %s", directory)
        return cls(directory, key, cert)

    # ------------------------------------------------------------------ properties
    @property
    def ca_cert_pem(self) -> str:
        """The CA certificate (PEM): the trust anchor for the broker and for every client."""
        return _cert_pem(self._cert)

    @property
    def ca_cert_path(self) -> Path:
        """Where the CA certificate is stored (for clients that want a file path)."""
        return self.directory / _CA_CERT

    certificate_id = staticmethod(certificate_id)

    # ------------------------------------------------------------------ issuing
    def _build_leaf(
        self,
        subject_cn: str,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
        eku: x509.ObjectIdentifier,
        validity: dt.timedelta,
        san: x509.SubjectAlternativeName | None = None,
    ) -> x509.Certificate:
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(self._cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(min(now + validity, self._cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    # RSA key exchange needs keyEncipherment; EC keys only sign (ECDHE).
                    key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(self._key, hashes.SHA256())

    def issue_server_cert(
        self, hostnames: Iterable[str] = ("localhost",), ips: Iterable[str] = ("127.0.0.1",)
    ) -> tuple[str, str]:
        """Issue the broker's certificate: returns ``(cert_pem, key_pem)``.

        Clients verify the broker by SAN (awscrt and Python's ssl both check it), so every name and IP
        that clients dial must be listed: ``localhost`` and ``127.0.0.1`` by default.
        """
        hostnames, ips = list(hostnames), list(ips)
        if not hostnames and not ips:
            raise ValueError("a server certificate needs at least one hostname or IP address")
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        key = _new_key()
        cert = self._build_leaf(
            hostnames[0] if hostnames else ips[0],
            key.public_key(),
            ExtendedKeyUsageOID.SERVER_AUTH,
            SERVER_VALIDITY,
            x509.SubjectAlternativeName(names),
        )
        return _cert_pem(cert), _key_pem(key)

    def issue_client_cert(
        self, common_name: str, validity: dt.timedelta = DEVICE_VALIDITY, *, allow_reserved: bool = False
    ) -> tuple[str, str]:
        """Issue a client certificate with a new key: returns ``(cert_pem, key_pem)``.

        For trusted callers (the devices service without a CSR, the device simulator): the key is
        generated here. Real devices should keep their key and send a CSR (:meth:`sign_csr`).
        Backend CNs are refused unless ``allow_reserved`` (only the broker issues those): a device named
        like a backend client would otherwise get the backend's ACL.
        """
        self._check_cn(common_name, allow_reserved=allow_reserved)
        key = _new_key()
        cert = self._build_leaf(common_name, key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH, validity)
        return _cert_pem(cert), _key_pem(key)

    def _check_cn(self, common_name: str, *, allow_reserved: bool = False) -> None:
        validate_thing_name(common_name)
        if allow_reserved:
            return
        for prefix in self.reserved_cn_prefixes:
            if common_name.startswith(prefix):
                raise ValueError(f"CN {common_name!r} is reserved for the backend's clients (prefix {prefix!r})")

    def sign_csr(self, csr_pem: str | bytes, common_name: str, validity: dt.timedelta = DEVICE_VALIDITY) -> str:
        """Issue a device certificate for the key in a CSR, bound to ``common_name`` (the thing name).

        The CSR proves possession of the key (its signature is verified); its subject is ignored, so a
        device cannot obtain a certificate for another device's name. Backend CNs are refused.
        Raises ValueError with the reason for a malformed, badly signed or weak-keyed CSR.
        """
        self._check_cn(common_name)
        data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
        try:
            csr = x509.load_pem_x509_csr(data)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate signing request: {exc}") from exc
        try:
            signature_ok = csr.is_signature_valid
        except (InvalidSignature, UnsupportedAlgorithm, ValueError) as exc:
            raise ValueError(f"CSR signature cannot be verified: {exc}") from exc
        if not signature_ok:
            raise ValueError("CSR signature is invalid: the request was not signed by the key it carries")
        try:
            public_key = csr.public_key()
        except (UnsupportedAlgorithm, ValueError) as exc:
            raise ValueError(f"CSR carries an unsupported public key: {exc}") from exc
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1 | ec.SECP384R1):
                raise ValueError(f"CSR key curve {public_key.curve.name} not accepted (use P-256 or P-384)")
        elif isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size < 2048:
                raise ValueError(f"CSR RSA key of {public_key.key_size} bits is too small (min 2048)")
        else:
            raise ValueError(f"CSR key type {type(public_key).__name__} not accepted (use EC or RSA)")
        cert = self._build_leaf(common_name, public_key, ExtendedKeyUsageOID.CLIENT_AUTH, validity)
        return _cert_pem(cert)

    def write_crl(self, path: Path, revoked_serials: Iterable[int] = ()) -> None:
        """Write a CRL (PEM) revoking ``revoked_serials``, valid until the CA itself expires.

        Mosquitto (OpenSSL) checks client certificates against it when ``crlfile`` is set; with no CRL
        for the issuing CA, or an outdated one, every client is refused, so write it even when empty.
        """
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._cert.subject)
            .last_update(now - CLOCK_SKEW)
            .next_update(self._cert.not_valid_after_utc)
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        for serial in sorted(set(revoked_serials)):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        crl = builder.sign(self._key, hashes.SHA256())
        write_file_atomically(Path(path), crl.public_bytes(serialization.Encoding.PEM))

    def verify_issued(self, cert_pem: str | bytes) -> bool:
        """True if this CA signed ``cert_pem`` (used to reuse stored credentials across restarts)."""
        try:
            _load_cert(cert_pem).verify_directly_issued_by(self._cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True
