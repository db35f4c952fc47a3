"""Device certificate routes: rotate (issue one more), list, revoke; and decommissioning (docs/devices.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.devices.api import DEVICE_ROLES
from gridshare.devices.certificate_service import certificate_service
from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.no_content import NO_CONTENT
from gridshare.http.pagination import page
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.devices.requests import CertificateListQuery, IssueCertificateBody

api = ApiBlueprint("devices")


@api.route(
    "/v1/devices/{id}/certificates",
    "POST",
    roles=DEVICE_ROLES,
    body="IssueCertificateBody",
    status=201,
    response="Envelope[IssuedCertificate]",
    errors=(409,),  # the device already has the most active certificates allowed, or is decommissioned
    summary="Issue one more active certificate for the device (rotation); the key only in this answer",
)
def issue_certificate(caller: Caller, id: str, body: IssueCertificateBody) -> dict:  # noqa: A002
    return {"data": certificate_service().issue(caller, id, body.csr)}


@api.route(
    "/v1/devices/{id}/certificates",
    "GET",
    roles=ANY_ROLE,
    query="CertificateListQuery",
    response="Page[DeviceCertificate]",
    summary="The device's certificates, oldest first, with status and expiry (404 if not yours)",
)
def list_certificates(caller: Caller, id: str, query: CertificateListQuery) -> dict:  # noqa: A002
    items, cursor = certificate_service().list(caller, id, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/devices/{id}/certificates/{certificateId}",
    "DELETE",
    roles=DEVICE_ROLES,
    status=204,
    response=NO_CONTENT,
    summary="Revoke a certificate: refused on connect, its live sessions closed (again: nothing to do)",
)
def revoke_certificate(caller: Caller, id: str, certificateId: str) -> None:  # noqa: A002, N803
    certificate_service().revoke(caller, id, certificateId)


@api.route(
    "/v1/devices/{id}",
    "DELETE",
    roles=DEVICE_ROLES,
    status=204,
    response=NO_CONTENT,
    summary="Decommission: every certificate revoked, the thing deleted, the record and readings kept",
)
def decommission_device(caller: Caller, id: str) -> None:  # noqa: A002
    certificate_service().decommission(caller, id)
