"""A device's certificates, as a pure model: rotation's bound, revocation, expiry read from the PEM.

A device holds up to MAX_ACTIVE active certificates (rotation: the new one is issued while the old one
still works, then the old one is revoked). Revocation is final (IoT Core cannot reactivate a REVOKED
certificate), so revoking twice changes nothing. No AWS here: gridshare.devices.certificate_service
stores the rows and drives IoT.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

MAX_ACTIVE = 3  # active certificates per device: enough for a rotation with one spare, bounded work
Status = Literal["active", "revoked"]


@dataclass(frozen=True)
class Certificate:
    device_id: str
    id: str
    arn: str
    status: Status
    created_at: int  # epoch ms
    expires_at: int | None  # epoch ms (notAfter); None for a certificate recorded before rows kept it
    revoked_at: int | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


class TooManyActive(Exception):
    """Issuing one more would exceed MAX_ACTIVE."""


def check_can_issue(existing: list[Certificate]) -> None:
    """Refuse a new certificate when the device already has MAX_ACTIVE active ones."""
    if sum(1 for c in existing if c.active) >= MAX_ACTIVE:
        raise TooManyActive(f"a device has at most {MAX_ACTIVE} active certificates; revoke one first")


def revoke(certificate: Certificate, now_ms: int) -> Certificate:
    """The certificate revoked at `now_ms`; an already revoked one is returned unchanged (first time kept)."""
    if not certificate.active:
        return certificate
    return replace(certificate, status="revoked", revoked_at=now_ms)


def not_after_ms(certificate_pem: str) -> int:
    """The certificate's notAfter (epoch ms): our CA sets it locally, IoT Core's CA on AWS."""
    from cryptography import x509  # only where certificates are issued

    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    return int(cert.not_valid_after_utc.timestamp() * 1000)
