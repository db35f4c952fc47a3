"""The outside world of notifications: email (SES), SMS and mobile push (SNS), push-token endpoints (SNS).

Each adapter turns the provider's errors into `ChannelFailed` (retry later) or `EndpointGone` (the push token is
no longer valid: its endpoint is removed). Locally all of them land in moto, which the outbox reads.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gridshare.kernel import errors
from gridshare.kernel.aws import client
from gridshare.kernel.settings import get_settings

PLATFORMS = {"fcm": "GCM", "apns": "APNS"}  # SNS's names of the platforms


class ChannelFailed(Exception):
    """A send that may work later (throttling, an outage): the delivery is retried, then dead-lettered."""


class EndpointGone(Exception):
    """The push endpoint is disabled or deleted (the app was uninstalled)."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class Sender(Protocol):
    def email(self, to: str, subject: str, text: str) -> None: ...

    def sms(self, phone: str, text: str) -> None: ...

    def push(self, endpoint_arn: str, title: str, text: str, data: dict[str, Any]) -> None: ...


class AwsSender:
    def email(self, to: str, subject: str, text: str) -> None:
        try:
            client("ses").send_email(
                Source=get_settings().email_sender,
                Destination={"ToAddresses": [to]},
                Message={"Subject": {"Data": subject[:200]}, "Body": {"Text": {"Data": text}}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise ChannelFailed(f"email: {exc}") from exc

    def sms(self, phone: str, text: str) -> None:
        try:
            client("sns").publish(
                PhoneNumber=phone,
                Message=text[:1400],
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise ChannelFailed(f"sms: {exc}") from exc

    def push(self, endpoint_arn: str, title: str, text: str, data: dict[str, Any]) -> None:
        notification = {"title": title, "body": text}
        message = {
            "default": text,
            "GCM": json.dumps({"notification": notification, "data": data}),
            "APNS": json.dumps({"aps": {"alert": notification, "sound": "default"}, **data}),
        }
        try:
            client("sns").publish(TargetArn=endpoint_arn, Message=json.dumps(message), MessageStructure="json")
        except ClientError as exc:
            if _code(exc) in ("EndpointDisabled", "NotFound"):
                raise EndpointGone(endpoint_arn) from exc
            raise ChannelFailed(f"push: {exc}") from exc
        except BotoCoreError as exc:
            raise ChannelFailed(f"push: {exc}") from exc


class PushEndpoints(Protocol):
    def create(self, platform: str, token: str, user_id: str) -> str: ...

    def delete(self, endpoint_arn: str) -> None: ...


class SnsPushEndpoints:
    """SNS platform endpoints of the platform applications named in settings (created outside the stack)."""

    def create(self, platform: str, token: str, user_id: str) -> str:
        settings = get_settings()
        application = {"fcm": settings.push_fcm_application_arn, "apns": settings.push_apns_application_arn}[platform]
        if not application:
            raise errors.Unavailable(f"Push notifications for {platform} are not configured.")
        try:
            created = client("sns").create_platform_endpoint(
                PlatformApplicationArn=application, Token=token, CustomUserData=user_id
            )
        except ClientError as exc:
            if _code(exc) == "InvalidParameter":
                raise errors.Conflict(
                    "This push token is registered to another account.",
                    errors=[errors.FieldError("token", "registered to another account")],
                ) from None
            raise
        return str(created["EndpointArn"])

    def delete(self, endpoint_arn: str) -> None:
        client("sns").delete_endpoint(EndpointArn=endpoint_arn)
