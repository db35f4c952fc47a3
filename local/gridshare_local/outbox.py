"""The local outbox: messages the platform would email, text or push, read from moto's SES and SNS backends.

Only registered by the local stack (never deployed): `GET /_local/outbox?to=<address | phone | push token>`.
Emails come first (SES), then SMS (SNS publishes to a phone number), then mobile pushes (SNS publishes to a
platform endpoint: `to` is the endpoint's token, `subject` the notification's title); `channel` says which.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import Field

from gridshare.http.api import ApiBlueprint
from gridshare.http.models import QueryModel
from gridshare.http.responses import Envelope, ResponseModel
from gridshare.kernel.settings import get_settings

api = ApiBlueprint("local")
CODE = re.compile(r"\b(\d{6})\b")


class OutboxQuery(QueryModel):
    to: str | None = None


class OutboxMessage(ResponseModel):
    id: str
    to: list[str]
    from_: str = Field(alias="from")
    subject: str
    body: str
    code: str | None = Field(description="the first 6-digit code in the body")
    channel: Literal["email", "sms", "push"]


def messages(to: str | None = None) -> list[dict[str, Any]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID][get_settings().region]
    found = []
    for message in backend.sent_messages:
        recipients = [a for values in (message.destinations or {}).values() for a in values]
        if to and to.lower() not in (r.lower() for r in recipients):
            continue
        body = getattr(message, "body", "") or ""
        code = CODE.search(body)
        found.append(
            {
                "id": message.id,
                "to": recipients,
                "from": message.source,
                "subject": getattr(message, "subject", ""),
                "body": body,
                "code": code.group(1) if code else None,
                "channel": "email",
            }
        )
    return found + _sns_messages(to)


def _sns_messages(to: str | None) -> list[dict[str, Any]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    backend = sns_backends[DEFAULT_ACCOUNT_ID][get_settings().region]
    found: list[dict[str, Any]] = []
    for message_id, (phone, text) in list(backend.sms_messages.items()):
        if not to or to == phone:
            found.append(_sns_view(message_id, phone, "", text, "sms"))
    for endpoint in list(backend.platform_endpoints.values()):
        if to and to != endpoint.token:
            continue
        for message_id, raw in list(endpoint.messages.items()):
            title, text = _push_text(raw)
            found.append(_sns_view(message_id, endpoint.token, title, text, "push"))
    return found


def _push_text(raw: str) -> tuple[str, str]:
    """The title and body of a push published with MessageStructure=json (gridshare.notifications.channels)."""
    try:
        document = json.loads(raw)
        gcm = json.loads(document.get("GCM", "{}"))
        notification = gcm.get("notification") or {}
        return str(notification.get("title", "")), str(notification.get("body") or document.get("default", ""))
    except (ValueError, AttributeError, TypeError):
        return "", raw


def _sns_view(message_id: str, to: str, subject: str, body: str, channel: str) -> dict[str, Any]:
    code = CODE.search(body)
    return {
        "id": message_id,
        "to": [to],
        "from": "sns",
        "subject": subject,
        "body": body,
        "code": code.group(1) if code else None,
        "channel": channel,
    }


@api.route(
    "/_local/outbox",
    "GET",
    roles=None,
    query=OutboxQuery,
    local_only=True,
    response=Envelope[list[OutboxMessage]],
    summary="Messages the local stack would have emailed, texted or pushed (local stack only)",
)
def outbox(query: OutboxQuery) -> dict:
    return {"data": messages(query.to)}
