"""AWS IoT adapter: things, certificates, the per-thing policy, and publishing commands to devices.

Certificates come from a `CertificateIssuer`: on AWS, IoT itself issues them (from the device's CSR, or
with a new key pair); on the local stack, the local CA signs them and they are registered in moto with
`register_certificate`, because moto's own certificates are self-signed and useless for mutual TLS.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel import errors
from gridshare.kernel.aws import client
from gridshare.kernel.settings import get_settings


def amazon_root_ca1() -> str:
    """Amazon Root CA 1, which signs IoT Core's server certificate (devices must trust it).

    Read from certifi's bundle (shipped in the layer) rather than pasted here.
    """
    import certifi

    text = open(certifi.where(), encoding="ascii").read()  # noqa: SIM115 - small file, read once
    start = text.index("-----BEGIN CERTIFICATE-----", text.index('Label: "Amazon Root CA 1"'))
    end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    return text[start:end] + "\n"


@dataclass(frozen=True)
class IssuedCertificate:
    certificate_pem: str
    private_key_pem: str | None  # None when the device sent a CSR: its key never leaves it
    certificate_id: str
    certificate_arn: str
    ca_certificate_pem: str


class CertificateIssuer(Protocol):
    def issue(self, thing_name: str, csr_pem: str | None) -> IssuedCertificate: ...


def _invalid_csr(message: str) -> errors.InvalidInput:
    return errors.InvalidInput(
        "The certificate signing request is not valid.", errors=[errors.FieldError("csr", message)]
    )


class AwsIotIssuer:
    """IoT Core issues the certificate (signed by AWS's CA)."""

    def issue(self, thing_name: str, csr_pem: str | None) -> IssuedCertificate:
        iot = client("iot")
        try:
            if csr_pem:
                result = iot.create_certificate_from_csr(certificateSigningRequest=csr_pem, setAsActive=True)
                key = None
            else:
                result = iot.create_keys_and_certificate(setAsActive=True)
                key = result["keyPair"]["PrivateKey"]
        except ClientError as exc:
            if csr_pem and exc.response["Error"]["Code"] == "InvalidRequestException":
                raise _invalid_csr(exc.response["Error"].get("Message", "rejected")) from None
            raise
        return IssuedCertificate(
            result["certificatePem"], key, result["certificateId"], result["certificateArn"], amazon_root_ca1()
        )


class LocalCaIssuer:
    """The local stack's CA signs; the certificate is registered in moto so IoT APIs know it."""

    def issue(self, thing_name: str, csr_pem: str | None) -> IssuedCertificate:
        from pathlib import Path

        from gridshare_local.pki import LocalCA  # local stack only; never shipped to Lambda

        ca = LocalCA.ensure(Path(get_settings().local_ca_dir))
        key_pem: str | None = None
        if csr_pem:
            try:
                cert_pem = ca.sign_csr(csr_pem, thing_name)
            except ValueError as exc:
                raise _invalid_csr(str(exc)) from None
        else:
            cert_pem, key_pem = ca.issue_client_cert(thing_name)
        result = client("iot").register_certificate(
            certificatePem=cert_pem, caCertificatePem=ca.ca_cert_pem, status="ACTIVE"
        )
        return IssuedCertificate(cert_pem, key_pem, result["certificateId"], result["certificateArn"], ca.ca_cert_pem)


def default_issuer() -> CertificateIssuer:
    return LocalCaIssuer() if get_settings().cert_issuer == "local" else AwsIotIssuer()


class IotRegistry:
    def create_thing(self, thing_name: str, device_type: str, owner_id: str) -> None:
        client("iot").create_thing(
            thingName=thing_name,
            attributePayload={"attributes": {"deviceType": device_type, "ownerHash": _short_hash(owner_id)}},
        )

    def bind(self, thing_name: str, certificate_arn: str) -> None:
        """Attach the per-thing policy template and the thing to the certificate."""
        iot = client("iot")
        iot.attach_policy(policyName=get_settings().device_policy_name, target=certificate_arn)
        iot.attach_thing_principal(thingName=thing_name, principal=certificate_arn)

    def revoke(self, thing_name: str, certificate_arn: str, certificate_id: str) -> None:
        """Revoke the certificate (IoT Core closes its connections and refuses new ones), then detach the
        device policy and the thing from it. Revoking first: the rest only tidies up. Repeatable."""
        iot = client("iot")
        iot.update_certificate(certificateId=certificate_id, newStatus="REVOKED")
        for step in (
            lambda: iot.detach_policy(policyName=get_settings().device_policy_name, target=certificate_arn),
            lambda: iot.detach_thing_principal(thingName=thing_name, principal=certificate_arn),
        ):
            try:
                step()
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise

    def delete_thing(self, thing_name: str) -> None:
        """Delete the thing (its certificates detached first); one already gone is fine."""
        try:
            client("iot").delete_thing(thingName=thing_name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise

    def remove(self, thing_name: str, certificate_arn: str | None, certificate_id: str | None) -> None:
        """Best-effort undo of a half-provisioned device."""
        iot = client("iot")
        steps = []
        if certificate_arn:
            steps += [
                lambda: iot.detach_thing_principal(thingName=thing_name, principal=certificate_arn),
                lambda: iot.detach_policy(policyName=get_settings().device_policy_name, target=certificate_arn),
            ]
        if certificate_id:
            steps += [
                lambda: iot.update_certificate(certificateId=certificate_id, newStatus="INACTIVE"),
                lambda: iot.delete_certificate(certificateId=certificate_id),
            ]
        steps.append(lambda: iot.delete_thing(thingName=thing_name))
        for step in steps:
            try:
                step()
            except ClientError:
                continue


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class CommandPublisher(Protocol):
    def publish(self, topic: str, message: dict[str, Any]) -> None: ...


class IotDataPublisher:
    """Publishes through IoT Core's data plane (boto3 `iot-data`), at QoS 1.

    The data endpoint is GS_IOT_DATA_ENDPOINT (CDK passes the account's ATS endpoint; the local stack, its
    moto server, whose iot-data publish it forwards to the local broker: gridshare_local.iot_data).
    """

    def __init__(self) -> None:
        self._client: Any = None

    def _iot_data(self) -> Any:
        if self._client is None:
            self._client = iot_data_client("commands cannot be published")
        return self._client

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        try:
            self._iot_data().publish(topic=topic, qos=1, payload=json.dumps(message).encode())
        except (ClientError, BotoCoreError) as exc:
            raise errors.Unavailable("The device's message broker did not take the command; try again.") from exc


def iot_data_client(unable: str) -> Any:
    """A client of IoT's data plane (GS_IOT_DATA_ENDPOINT); `unable` says what fails without one."""
    from gridshare.kernel.aws import new_client

    endpoint = get_settings().iot_data_endpoint
    if not endpoint:
        raise errors.ConfigurationError(f"GS_IOT_DATA_ENDPOINT is not set: {unable}")
    if "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    return new_client("iot-data", endpoint_url=endpoint)
