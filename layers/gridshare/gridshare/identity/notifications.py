"""Outgoing email through SES (moto's SES locally: the local stack's outbox reads what was sent)."""

from __future__ import annotations

from gridshare.kernel.aws import client
from gridshare.kernel.settings import get_settings


class EmailSender:
    def send(self, to: str, subject: str, text: str) -> None:
        client("ses").send_email(
            Source=get_settings().email_sender,
            Destination={"ToAddresses": [to]},
            Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": text}}},
        )
