"""The notifier: alert events in, one delivery per (recipient, channel) out (docs/notifications.md).

An alert event (docs/events.md, `gridshare.alerts`) names its audience: the owner, or every operator (the
identity context's contacts, never its tables). Per recipient the notifier writes one inbox entry (its id derived
from alert and occurrence: a redelivered event finds it) and decides the channels by the recipient's preferences
(gridshare.notifications.preferences.decide); each channel becomes one message on the deliveries queue, so a
failing channel is retried and dead-lettered on its own while the others go out.

Settlement events (`gridshare.settlement`) take the same path (gridshare.notifications.settlement_notices): each
party of a completed run, or each admin for a failed one, gets an inbox entry whose id derives from (run id, kind),
and email and WebSocket deliveries by their preferences.

The delivery worker sends one such message: it claims (alert or run id, channel, occurrence, recipient) with a
conditional put, sends, and marks it sent; a failed send releases the claim and fails the message (SQS retries it,
then its DLQ). A message seen again after a successful send is dropped: at-least-once delivery, sent once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.settings import get_settings
from gridshare.notifications import preferences as P
from gridshare.notifications import settlement_notices as S
from gridshare.notifications import topics as T
from gridshare.notifications.channels import AwsSender, EndpointGone, Sender
from gridshare.notifications.connections import Pusher
from gridshare.notifications.models import InboxModel
from gridshare.notifications.store import (
    DeliveryClaims,
    InboxStore,
    PreferencesStore,
    PushTokenStore,
    inbox_id,
    inbox_order,
)

logger = logging.getLogger("gridshare.notifications.notifier")
ALERT_SOURCE = "gridshare.alerts"
ALERT_EVENTS = ("AlertOpened", "AlertUpdated", "AlertReminder", "AlertEscalated")
OPERATOR_ROLE = "operator"


class InvalidEvent(ValueError):
    """An event that does not follow the contract: logged and dropped (a retry cannot fix it)."""


class Contacts(Protocol):
    def contact(self, user_id: str) -> Any: ...

    def members(self, role: str) -> list[Any]: ...


def _contacts() -> Contacts:
    from gridshare.identity.service import contact_directory  # the identity context's service, on use

    return contact_directory()


class DeliveryQueue(Protocol):
    def send(self, messages: list[dict[str, Any]]) -> None: ...


class SqsDeliveryQueue:
    def send(self, messages: list[dict[str, Any]]) -> None:
        from gridshare.kernel.aws import client

        url = get_settings().deliveries_queue_url
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            result = client("sqs").send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "MessageBody": json.dumps(m, default=str)} for i, m in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise RuntimeError(f"deliveries not queued: {result['Failed']}")


@dataclass(frozen=True)
class AlertEvent:
    kind: str  # the detail type
    alert: dict[str, Any]
    owner_id: str
    channels: tuple[str, ...]
    occurrence: str
    audience: str

    @property
    def alert_id(self) -> str:
        return str(self.alert["id"])

    @property
    def severity(self) -> str:
        return str(self.alert.get("severity") or "critical")


def parse_alert_event(detail_type: str, detail: dict[str, Any]) -> AlertEvent:
    try:
        alert = detail["alert"]
        if not isinstance(alert, dict) or not alert.get("id"):
            raise InvalidEvent("alert.id missing")
        channels = tuple(c for c in detail.get("channels") or () if c in P.CHANNELS)
        audience = str(detail.get("audience") or "owner")
        if audience not in ("owner", "operators"):
            raise InvalidEvent(f"unknown audience {audience}")
        return AlertEvent(detail_type, alert, str(detail["ownerId"]), channels, str(detail["occurrence"]), audience)
    except (KeyError, TypeError) as exc:
        raise InvalidEvent(f"not an alert event: {exc}") from None


def delivery_key(alert_id: str, channel: str, occurrence: str, recipient: str) -> str:
    return f"{alert_id}#{channel}#{occurrence}#{recipient}"


@dataclass
class Notifier:
    preferences: PreferencesStore = field(default_factory=PreferencesStore)
    inbox: InboxStore = field(default_factory=InboxStore)
    queue: DeliveryQueue = field(default_factory=SqsDeliveryQueue)
    contacts_factory: Any = _contacts

    def recipients(self, event: AlertEvent) -> list[str]:
        if event.audience == "owner":
            return [event.owner_id]
        return sorted({c.user_id for c in self.contacts_factory().members(OPERATOR_ROLE)})

    def fan_out(self, event: AlertEvent) -> list[dict[str, Any]]:
        """Inbox entries and the queued deliveries of one alert event; returns the deliveries."""
        at = now_ms()
        deliveries: list[dict[str, Any]] = []
        for recipient in self.recipients(event):
            self._inbox(event, recipient, at)
            decision = P.decide(event.channels, self.preferences.get(recipient), event.severity, at)
            if decision.held:
                logger.info("channels held back", extra={"alertId": event.alert_id, "held": decision.held})
            deliveries.extend(
                {
                    "channel": channel,
                    "recipient": recipient,
                    "type": event.kind,
                    "occurrence": event.occurrence,
                    "alert": event.alert,
                }
                for channel in decision.channels
            )
        if deliveries:
            self.queue.send(deliveries)
        return deliveries

    def notify_settlement(self, notice: S.Notice) -> list[dict[str, Any]]:
        """Inbox entries and queued deliveries of one settlement notice (module doc); returns the deliveries."""
        if notice.kind == S.COMPLETED_TYPE:
            if not notice.intervals:
                return []  # a run that settled no interval moved nothing
            recipients = list(notice.parties)
        else:
            recipients = sorted({c.user_id for c in self.contacts_factory().members(S.ADMIN_ROLE)})
        at = now_ms()
        deliveries: list[dict[str, Any]] = []
        for recipient in recipients:
            self.inbox.add(
                InboxModel(
                    user_id=recipient,
                    id=inbox_id(notice.run_id, notice.occurrence),
                    order=inbox_order(False, at),
                    kind=notice.kind,
                    run_id=notice.run_id,
                    occurrence=notice.occurrence,
                    severity=notice.severity,
                    title=S.title(notice),
                    message=S.message(notice),
                    created_at=at,
                )
            )
            decision = P.decide(S.CHANNELS, self.preferences.get(recipient), notice.severity, at)
            deliveries.extend(
                {
                    "channel": channel,
                    "recipient": recipient,
                    "type": notice.kind,
                    "occurrence": notice.occurrence,
                    "settlement": notice.data(),
                }
                for channel in decision.channels
            )
        if deliveries:
            self.queue.send(deliveries)
        return deliveries

    def _inbox(self, event: AlertEvent, recipient: str, at: int) -> None:
        alert = event.alert
        self.inbox.add(
            InboxModel(
                user_id=recipient,
                id=inbox_id(event.alert_id, event.occurrence),
                order=inbox_order(False, at),
                kind=T.alert_message_type(event.kind),
                alert_id=event.alert_id,
                occurrence=event.occurrence,
                severity=event.severity,
                title=str(alert.get("title") or "Alert"),
                message=str(alert.get("message") or ""),
                device_id=alert.get("deviceId"),
                test=bool(alert.get("test")),
                created_at=at,
            )
        )


def _subject(delivery: dict[str, Any]) -> str:
    alert = delivery["alert"]
    test = "[test] " if alert.get("test") else ""
    return f"{test}[{str(alert.get('severity', '')).upper()}] {alert.get('title') or 'Alert'}"


def _text(delivery: dict[str, Any]) -> str:
    alert = delivery["alert"]
    lines = [str(alert.get("message") or alert.get("title") or "")]
    if alert.get("deviceId"):
        lines.append(f"Device: {alert['deviceId']}")
    if alert.get("lastValue") is not None:
        lines.append(f"Last value: {alert['lastValue']}")
    lines.append(f"Status: {alert.get('status')} (alert {alert.get('id')}, {delivery['occurrence']})")
    if alert.get("test"):
        lines.append("This is a test notification.")
    return "\n".join(lines)


@dataclass
class DeliveryWorker:
    claims: DeliveryClaims = field(default_factory=DeliveryClaims)
    preferences: PreferencesStore = field(default_factory=PreferencesStore)
    tokens: PushTokenStore = field(default_factory=PushTokenStore)
    sender: Sender = field(default_factory=AwsSender)
    pusher: Pusher = field(default_factory=Pusher)
    contacts_factory: Any = _contacts

    def deliver(self, delivery: dict[str, Any]) -> str:
        """Send one delivery once: `sent`, `duplicate` (already sent or being sent), `skipped` (no address)."""
        channel, recipient = str(delivery["channel"]), str(delivery["recipient"])
        notice = S.notice_from_delivery(delivery) if "settlement" in delivery else None
        subject_id = notice.run_id if notice is not None else str(delivery["alert"]["id"])
        key = delivery_key(subject_id, channel, str(delivery["occurrence"]), recipient)
        if not self.claims.claim(key, now_ms()):
            if self.claims.status(key) == "sent":
                return "duplicate"
            raise RuntimeError(f"delivery {key} is being sent by another worker")  # retried after the visibility
        try:
            if notice is not None:
                outcome = self._send_notice(channel, recipient, notice)
            else:
                outcome = self._send(channel, recipient, delivery)
        except BaseException:
            self.claims.release(key)
            raise
        self.claims.sent(key, now_ms())
        return outcome

    def _send(self, channel: str, recipient: str, delivery: dict[str, Any]) -> str:
        if channel == "email":
            contact = self.contacts_factory().contact(recipient)
            if contact is None or not contact.email:
                return "skipped"
            self.sender.email(contact.email, _subject(delivery), _text(delivery))
        elif channel == "sms":
            phone = self.preferences.get(recipient).phone
            if phone is None:
                return "skipped"
            self.sender.sms(phone, f"Gridshare {_subject(delivery)}: {delivery['alert'].get('message') or ''}")
        elif channel == "push":
            tokens = self.tokens.list(recipient)
            if not tokens:
                return "skipped"
            data = {"alertId": str(delivery["alert"]["id"]), "occurrence": str(delivery["occurrence"])}
            for token in tokens:
                try:
                    self.sender.push(token.endpoint_arn, _subject(delivery), _text(delivery), data)
                except EndpointGone:
                    logger.info("push endpoint gone: token removed", extra={"tokenId": token.id})
                    self.tokens.delete(token)
        elif channel == "websocket":
            message = T.server_message(T.alert_message_type(str(delivery["type"])), delivery["alert"], to_iso(now_ms()))
            self.pusher.publish(T.user_subject("alerts", recipient), message)
        else:
            return "skipped"
        return "sent"

    def _send_notice(self, channel: str, recipient: str, notice: S.Notice) -> str:
        if channel == "email":
            contact = self.contacts_factory().contact(recipient)
            if contact is None or not contact.email:
                return "skipped"
            self.sender.email(contact.email, S.email_subject(notice), S.email_text(notice))
        elif channel == "websocket":
            message = T.server_message(notice.kind, notice.data(), to_iso(now_ms()))
            self.pusher.publish(T.user_subject("settlement", recipient), message)
        else:
            return "skipped"  # settlement notices use neither SMS nor push (S.CHANNELS)
        return "sent"
