"""Device certificates and decommissioning (docs/devices.md, decision 0013).

- issue: one more active certificate for the device's thing (rotation), at most MAX_ACTIVE active;
- list: every certificate the device was given, with status and expiry (no PEM, no key);
- revoke: IoT UpdateCertificate REVOKED, then the device policy and the thing detached from it. IoT Core
  closes the connections of that certificate; locally, the stack's moto hook updates Mosquitto's CRL and
  drops the thing's sessions (gridshare_local.revocation);
- decommission: the device is marked `decommissioned_at` first (no new certificates or commands from
  then on), then every certificate is revoked and the thing deleted. Its record and readings stay.
  Repeating it (or retrying after a failure half-way) finishes what is left: the route answers 204.

Devices provisioned before certificates had rows have none for their first certificate: it is recorded
(expiry unknown) the first time the device's certificates are read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from gridshare.devices import certificates
from gridshare.devices.certificates import Certificate
from gridshare.devices.iot import CertificateIssuer, IotRegistry, default_issuer
from gridshare.devices.models import CertificateModel, DeviceModel
from gridshare.devices.service import DeviceService
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.roles import Caller
from gridshare.kernel.settings import get_settings

logger = logging.getLogger("gridshare.devices.certificates")


def certificate_view(certificate: Certificate) -> dict[str, Any]:
    return {
        "id": certificate.id,
        "deviceId": certificate.device_id,
        "status": certificate.status,
        "createdAt": to_iso(certificate.created_at),
        "expiresAt": to_iso(certificate.expires_at) if certificate.expires_at is not None else None,
        "revokedAt": to_iso(certificate.revoked_at) if certificate.revoked_at is not None else None,
    }


def _from_row(row: CertificateModel) -> Certificate:
    return Certificate(
        device_id=row.device_id,
        id=row.id,
        arn=row.arn,
        status="revoked" if row.status == "revoked" else "active",
        created_at=int(row.created_at),
        expires_at=int(row.expires_at) if row.expires_at is not None else None,
        revoked_at=int(row.revoked_at) if row.revoked_at is not None else None,
    )


def _row(certificate: Certificate) -> CertificateModel:
    return CertificateModel(
        device_id=certificate.device_id,
        id=certificate.id,
        arn=certificate.arn,
        status=certificate.status,
        created_at=certificate.created_at,
        expires_at=certificate.expires_at,
        revoked_at=certificate.revoked_at,
    )


class CertificateStore:
    def all(self, device: DeviceModel) -> list[Certificate]:
        """The device's certificates, oldest first; the provisioning certificate recorded if it had no row."""
        rows = [_from_row(r) for r in CertificateModel.query(device.id, consistent_read=True)]
        if not any(c.id == device.certificate_id for c in rows):
            first = Certificate(
                device.id, device.certificate_id, device.certificate_arn, "active", int(device.created_at), None
            )
            try:
                _row(first).save(condition=CertificateModel.id.does_not_exist())
            except PutError:  # recorded meanwhile by another request
                return self.all(device)
            rows.append(first)
        return sorted(rows, key=lambda c: (c.created_at, c.id))

    def get(self, device: DeviceModel, certificate_id: str) -> Certificate | None:
        return next((c for c in self.all(device) if c.id == certificate_id), None)

    @staticmethod
    def put(certificate: Certificate) -> None:
        _row(certificate).save()


@dataclass
class CertificateService:
    registry: IotRegistry = field(default_factory=IotRegistry)
    issuer: CertificateIssuer = field(default_factory=default_issuer)
    store: CertificateStore = field(default_factory=CertificateStore)

    def list(
        self, caller: Caller, device_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the device's certificates, oldest first (the cursor names the last one shown)."""
        start = decode_cursor(cursor)
        after = start.get("after") if start else None
        if start is not None and (not isinstance(after, str) or start.get("device") != device_id):
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        device = DeviceService.get_owned(caller, device_id)
        items = self.store.all(device)
        if after is not None:
            items = items[next((i + 1 for i, c in enumerate(items) if c.id == after), len(items)) :]
        shown = items[:limit]
        more = len(items) > limit
        return [certificate_view(c) for c in shown], encode_cursor(
            {"device": device_id, "after": shown[-1].id}
        ) if more else None

    def issue(self, caller: Caller, device_id: str, csr_pem: str | None) -> dict[str, Any]:
        """A new active certificate bound to the device's thing; the key (when no CSR) only in this answer."""
        device = DeviceService.get_owned(caller, device_id)
        _refuse_if_decommissioned(device)
        try:
            certificates.check_can_issue(self.store.all(device))
        except certificates.TooManyActive as exc:
            raise _too_many(str(exc)) from None
        issued = self.issuer.issue(device.thing_name, csr_pem)
        try:
            self.registry.bind(device.thing_name, issued.certificate_arn)
            certificate = Certificate(
                device.id,
                issued.certificate_id,
                issued.certificate_arn,
                "active",
                now_ms(),
                certificates.not_after_ms(issued.certificate_pem),
            )
            self.store.put(certificate)
        except Exception:
            self.registry.revoke(device.thing_name, issued.certificate_arn, issued.certificate_id)
            raise
        if sum(c.active for c in self.store.all(device)) > certificates.MAX_ACTIVE:
            # Another issue raced this one past the check: undo ours (both may; the bound holds either way).
            self._revoke(device, certificate)
            raise _too_many("another certificate was issued meanwhile")
        logger.info("certificate issued", extra={"deviceId": device.id, "certificateId": certificate.id})
        settings = get_settings()
        view = certificate_view(certificate)
        view.update(
            {
                "certificatePem": issued.certificate_pem,
                "caCertificatePem": issued.ca_certificate_pem,
                "mqtt": {"host": settings.mqtt_host, "port": settings.mqtt_port, "clientId": device.thing_name},
            }
        )
        if issued.private_key_pem is not None:
            view["privateKey"] = issued.private_key_pem
        return view

    def revoke(self, caller: Caller, device_id: str, certificate_id: str) -> None:
        """Revoke one of the device's certificates; one already revoked: nothing to do."""
        device = DeviceService.get_owned(caller, device_id)
        certificate = self.store.get(device, certificate_id)
        if certificate is None:
            raise errors.NotFound("No such certificate.")
        self._revoke(device, certificate)

    def decommission(self, caller: Caller, device_id: str) -> None:
        device = DeviceService.get_owned(caller, device_id)
        if device.decommissioned_at is None:
            try:
                device.update(
                    # and out of the offline sweep's index: a decommissioned device has no health any more
                    actions=[
                        DeviceModel.decommissioned_at.set(now_ms()),
                        DeviceModel.online.remove(),
                        DeviceModel.offline_at.remove(),
                    ],
                    condition=DeviceModel.decommissioned_at.does_not_exist(),
                )
            except UpdateError:  # decommissioned meanwhile: carry on with what is left
                device.refresh()
        for certificate in self.store.all(device):
            self._revoke(device, certificate)
        self.registry.delete_thing(device.thing_name)
        logger.info("device decommissioned", extra={"deviceId": device.id})

    def _revoke(self, device: DeviceModel, certificate: Certificate) -> None:
        if not certificate.active:
            return
        self.registry.revoke(device.thing_name, certificate.arn, certificate.id)
        self.store.put(certificates.revoke(certificate, now_ms()))
        logger.info("certificate revoked", extra={"deviceId": device.id, "certificateId": certificate.id})


def _too_many(reason: str) -> errors.Conflict:
    return errors.Conflict(
        f"The device already has {certificates.MAX_ACTIVE} active certificates (the limit); revoke one first.",
        errors=[errors.FieldError("certificates", reason)],
    )


def _refuse_if_decommissioned(device: DeviceModel) -> None:
    if device.decommissioned_at is not None:
        raise errors.Conflict("The device is decommissioned: it takes no new certificates or commands.")


certificate_service = ServiceFactory(CertificateService)
