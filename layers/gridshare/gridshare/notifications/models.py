"""The notifications context's tables: preferences, push endpoints, the inbox, delivery claims, and the WebSocket
connections and subscriptions (docs/notifications.md)."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from gridshare.kernel.tables import TableMeta


class PreferencesModel(Model):
    """One item per user who saved preferences; no item = the defaults (gridshare.notifications.preferences)."""

    class Meta(TableMeta):
        logical_name = "notification_preferences"

    user_id = UnicodeAttribute(hash_key=True)
    document = JSONAttribute()  # preferences.to_json
    updated_at = NumberAttribute()


class PushTokenModel(Model):
    """A device token of a user's app, registered as an SNS platform endpoint."""

    class Meta(TableMeta):
        logical_name = "push_tokens"

    user_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    platform = UnicodeAttribute()  # fcm | apns
    token = UnicodeAttribute()
    endpoint_arn = UnicodeAttribute()
    created_at = NumberAttribute()


class InboxOrder(GlobalSecondaryIndex["InboxModel"]):
    """A user's entries unread first, newest first within each: `order` = "0|1" + "#" + inverted epoch ms."""

    class Meta:
        index_name = "by_order"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    order = UnicodeAttribute(range_key=True)


class InboxModel(Model):
    """One in-app notification. The id is derived from (alert, occurrence), or (settlement run, kind), so a
    redelivered event writes the same item: a conditional put keeps the first."""

    class Meta(TableMeta):
        logical_name = "notification_inbox"

    user_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    order = UnicodeAttribute()
    kind = UnicodeAttribute()  # alert.opened | alert.updated | settlement.completed | settlement.failed
    alert_id = UnicodeAttribute(null=True)  # an alert's entries
    run_id = UnicodeAttribute(null=True)  # a settlement run's entries
    occurrence = UnicodeAttribute()
    severity = UnicodeAttribute()
    title = UnicodeAttribute()
    message = UnicodeAttribute()
    device_id = UnicodeAttribute(null=True)
    test = BooleanAttribute(default=False)
    created_at = NumberAttribute()
    read_at = NumberAttribute(null=True)
    purge_at = TTLAttribute(null=True)
    by_order = InboxOrder()


class DeliveryModel(Model):
    """A claim on one delivery: key = alert id # channel # occurrence # recipient. `status` is `sending` while a
    worker holds it (since `claimed_at`), `sent` once done; a failed send deletes the claim so a retry may."""

    class Meta(TableMeta):
        logical_name = "notification_deliveries"

    key = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    claimed_at = NumberAttribute()
    sent_at = NumberAttribute(null=True)
    purge_at = TTLAttribute(null=True)


class ConnectionModel(Model):
    """An open WebSocket connection and the verified user behind it."""

    class Meta(TableMeta):
        logical_name = "ws_connections"

    connection_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    role = UnicodeAttribute()
    groups = UnicodeAttribute(default="")
    connected_at = NumberAttribute()
    expires_at = TTLAttribute()


class SubscribersOf(GlobalSecondaryIndex["SubscriptionModel"]):
    """Who listens to a subject: one Query per pushed subject (keys only: the connection id is the key)."""

    class Meta:
        index_name = "by_subject"
        projection = KeysOnlyProjection()

    subject = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)


class SubscriptionModel(Model):
    class Meta(TableMeta):
        logical_name = "ws_subscriptions"

    connection_id = UnicodeAttribute(hash_key=True)
    subject = UnicodeAttribute(range_key=True)
    topic = UnicodeAttribute()
    user_id = UnicodeAttribute()
    expires_at = TTLAttribute()
    by_subject = SubscribersOf()


TABLES: tuple[type[Model], ...] = (
    PreferencesModel,
    PushTokenModel,
    InboxModel,
    DeliveryModel,
    ConnectionModel,
    SubscriptionModel,
)
