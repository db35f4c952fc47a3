"""The local outbox: messages the platform would email, read from moto's SES backend.

Only registered by the local stack (never deployed): `GET /_local/outbox?to=<address>`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from gridshare.http.api import ApiBlueprint, QueryModel
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
            }
        )
    return found


@api.route(
    "/_local/outbox",
    "GET",
    roles=None,
    query=OutboxQuery,
    local_only=True,
    response=Envelope[list[OutboxMessage]],
    summary="Messages the local stack would have emailed (local stack only)",
)
def outbox(query: OutboxQuery) -> dict:
    return {"data": messages(query.to)}
