"""DynamoDB tables as PynamoDB models: the one source of key schemas.

The CDK app (infra_cdk) and the local stack (gridshare_local) both build tables from `ALL_MODELS`, so
the deployed schema and the one tests run against cannot drift. Physical names come from
`GS_TABLE_<LOGICAL>` (set by CDK on each function) or default to `gridshare-<logical>`.
"""

from __future__ import annotations

import os

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from gridshare.adapters.aws import share_session_with_pynamodb

share_session_with_pynamodb()


def table_name(logical: str) -> str:
    return os.environ.get(f"GS_TABLE_{logical.upper()}", f"gridshare-{logical.replace('_', '-')}")


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


# ---------------------------------------------------------------- identity
class UsersByEmail(GlobalSecondaryIndex["UserModel"]):
    class Meta:
        index_name = "by_email"
        projection = KeysOnlyProjection()

    email = UnicodeAttribute(hash_key=True)


class UsersByRole(GlobalSecondaryIndex["UserModel"]):
    class Meta:
        index_name = "by_role"
        projection = AllProjection()

    role = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class UserModel(Model):
    """A platform user; Cognito holds the password, this table holds the profile and our codes."""

    class Meta:
        table_name = table_name("users")
        region = _region()
        logical_name = "users"

    id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")  # pending (email not verified) | active | disabled
    created_at = NumberAttribute()
    verification_code_hash = UnicodeAttribute(null=True)
    verification_expires_at = NumberAttribute(null=True)
    verification_attempts = NumberAttribute(default=0)
    phone = UnicodeAttribute(null=True)
    avatar_url = UnicodeAttribute(null=True)
    preferences = JSONAttribute(null=True)
    # Password reset (our own code: Cognito's is not checked by moto, and we want one code path)
    reset_code_hash = UnicodeAttribute(null=True)
    reset_expires_at = NumberAttribute(null=True)
    reset_attempts = NumberAttribute(default=0)
    # TOTP 2FA (RFC 6238), checked by us in every mode
    totp_secret = UnicodeAttribute(null=True)
    totp_pending_secret = UnicodeAttribute(null=True)
    totp_enabled = BooleanAttribute(default=False)
    totp_last_step = NumberAttribute(null=True)  # a code's time step is accepted once only
    # Tokens issued at or before this second are refused (logout, role change, disable).
    tokens_revoked_at = NumberAttribute(null=True)
    by_email = UsersByEmail()
    by_role = UsersByRole()


class SessionsByUser(GlobalSecondaryIndex["AuthSessionModel"]):
    class Meta:
        index_name = "by_user"
        projection = KeysOnlyProjection()

    user_id = UnicodeAttribute(hash_key=True)


class AuthSessionModel(Model):
    """Server-side sessions: `refresh` (one per login, so refresh can be revoked) and `mfa` (a login
    waiting for its TOTP code). The key is a SHA-256 of the secret the client holds."""

    class Meta:
        table_name = table_name("auth_sessions")
        region = _region()
        logical_name = "auth_sessions"

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # refresh | mfa
    user_id = UnicodeAttribute()
    created_at = NumberAttribute()
    attempts = NumberAttribute(default=0)
    refresh_token = UnicodeAttribute(null=True)  # mfa only: completes the login once the code is right
    expires_at = TTLAttribute()
    by_user = SessionsByUser()


class RateLimitModel(Model):
    """Failure counters and lockouts (login per account and per IP, 2FA codes, reset codes)."""

    class Meta:
        table_name = table_name("rate_limits")
        region = _region()
        logical_name = "rate_limits"

    key = UnicodeAttribute(hash_key=True)
    failures = NumberAttribute(default=0)
    first_failure_at = NumberAttribute(default=0)
    locked_until = NumberAttribute(default=0)
    expires_at = TTLAttribute()


class EventsByUser(GlobalSecondaryIndex["SecurityEventModel"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class EventsByType(GlobalSecondaryIndex["SecurityEventModel"]):
    class Meta:
        index_name = "by_type"
        projection = AllProjection()

    type = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class SecurityEventModel(Model):
    """Append-only security log, one partition per UTC day (`day` = YYYY-MM-DD), ids are ULIDs."""

    class Meta:
        table_name = table_name("security_events")
        region = _region()
        logical_name = "security_events"

    day = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    at = NumberAttribute()
    user_id = UnicodeAttribute(null=True)
    email_hash = UnicodeAttribute(null=True)
    ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    detail = JSONAttribute(null=True)
    by_user = EventsByUser()
    by_type = EventsByType()


# ---------------------------------------------------------------- devices
class DevicesByOwner(GlobalSecondaryIndex["DeviceModel"]):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class DevicesByThing(GlobalSecondaryIndex["DeviceModel"]):
    class Meta:
        index_name = "by_thing"
        projection = AllProjection()

    thing_name = UnicodeAttribute(hash_key=True)


class DeviceModel(Model):
    class Meta:
        table_name = table_name("devices")
        region = _region()
        logical_name = "devices"

    id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    thing_name = UnicodeAttribute()
    certificate_id = UnicodeAttribute()
    certificate_arn = UnicodeAttribute()
    status = UnicodeAttribute(default="provisioned")
    created_at = NumberAttribute()
    by_owner = DevicesByOwner()
    by_thing = DevicesByThing()


# ---------------------------------------------------------------- telemetry
class LatestReadingModel(Model):
    """The newest reading per device, with the counters that validation and rollups compare against."""

    class Meta:
        table_name = table_name("telemetry_latest")
        region = _region()
        logical_name = "telemetry_latest"

    device_id = UnicodeAttribute(hash_key=True)
    ts = NumberAttribute()
    seq = NumberAttribute()
    metrics = JSONAttribute()
    counters = JSONAttribute()
    received_at = NumberAttribute()


class RawReadingModel(Model):
    """Raw readings, one partition per device per UTC day, expiring after GS_RAW_TTL_DAYS.

    The same table holds sequence markers (`<device>#SEQ`, sk = seq) that make ingest idempotent.
    """

    class Meta:
        table_name = table_name("telemetry_raw")
        region = _region()
        logical_name = "telemetry_raw"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    ts = NumberAttribute(null=True)
    seq = NumberAttribute(null=True)
    metrics = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class RollupModel(Model):
    """Per device and resolution (`<device>#15m|1h|1d`), one item per bucket start (ms).

    Attributes are written with atomic ADD: `n` (readings), `s_<metric>`/`c_<metric>` (sum and count of
    each gauge, since not every reading carries every metric), and
    `e_<counter>` (interval energy in Wh from counter deltas).
    """

    class Meta:
        table_name = table_name("telemetry_rollups")
        region = _region()
        logical_name = "telemetry_rollups"

    pk = UnicodeAttribute(hash_key=True)
    bucket = NumberAttribute(range_key=True)
    n = NumberAttribute(default=0)


class DeadLettersByStatus(GlobalSecondaryIndex["DeadLetterModel"]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ReasonMap(MapAttribute):  # type: ignore[type-arg]
    field = UnicodeAttribute()
    message = UnicodeAttribute()


class DeadLetterModel(Model):
    """A rejected device message with every reason; kept until replayed or discarded by an admin."""

    class Meta:
        table_name = table_name("telemetry_dead_letters")
        region = _region()
        logical_name = "telemetry_dead_letters"

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(default="open")  # open | replayed
    thing_name = UnicodeAttribute(null=True)
    device_id = UnicodeAttribute(null=True)
    topic = UnicodeAttribute(null=True)
    payload = UnicodeAttribute()  # base64 of the bytes the device sent
    reasons = ListAttribute(of=ReasonMap)
    received_at = NumberAttribute()
    replayed_at = NumberAttribute(null=True)
    replay_attempts = NumberAttribute(default=0)
    by_status = DeadLettersByStatus()


# ---------------------------------------------------------------- wallets (ledger)
def entry_pk(account: str, asset: str) -> str:
    """Partition key of one account's chain of entries."""
    return f"ACCT#{account}#{asset}"


class LedgerTransactionModel(Model):
    """One posted transaction, keyed by its idempotency id.

    Written with ``attribute_not_exists(id)``: its existence is what makes a retry a no-op, and
    ``body_hash`` is what tells a retry (same body) from a reused id (another body). ``entries`` and
    ``metadata`` are canonical JSON, so the first result can be returned to every replay.
    """

    class Meta:
        table_name = table_name("ledger_transactions")
        region = _region()
        logical_name = "ledger_transactions"

    id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    body_hash = UnicodeAttribute()
    entries = UnicodeAttribute()  # JSON: [[account, asset, amount], ...] in posting order
    metadata = UnicodeAttribute()  # JSON object of scalars
    created_at = NumberAttribute()


class LedgerAccountModel(Model):
    """An account's balance and the head of its entry chain.

    ``seq`` (entries so far) and ``head_hash`` (the last entry's chain hash) are what the next post links
    to; the post's update is conditioned on ``seq`` so two concurrent posts cannot both extend the chain
    from the same head. ``balance`` may go negative only for external counterparties.
    """

    class Meta:
        table_name = table_name("ledger_accounts")
        region = _region()
        logical_name = "ledger_accounts"

    account = UnicodeAttribute(hash_key=True)
    asset = UnicodeAttribute(range_key=True)
    balance = NumberAttribute(default=0)
    seq = NumberAttribute(default=0)
    head_hash = UnicodeAttribute()
    updated_at = NumberAttribute()


class LedgerEntryModel(Model):
    """One entry of one account's chain: pk ``ACCT#<account>#<asset>``, sk = sequence (1, 2, ...).

    Append-only (put with ``attribute_not_exists``); statements read an account's entries in sequence
    order, and ``gridshare ledger verify`` recomputes every ``hash`` from ``prev_hash`` and the entry.
    """

    class Meta:
        table_name = table_name("ledger_entries")
        region = _region()
        logical_name = "ledger_entries"

    pk = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    account = UnicodeAttribute()
    asset = UnicodeAttribute()
    amount = NumberAttribute()
    tx_id = UnicodeAttribute()
    tx_type = UnicodeAttribute()
    prev_hash = UnicodeAttribute()
    hash = UnicodeAttribute()
    balance_after = NumberAttribute()
    created_at = NumberAttribute()


class PaymentsByIntent(GlobalSecondaryIndex["PaymentModel"]):
    class Meta:
        index_name = "by_intent"
        projection = AllProjection()

    payment_intent_id = UnicodeAttribute(hash_key=True)


class PaymentsByUser(GlobalSecondaryIndex["PaymentModel"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class PaymentModel(Model):
    """A top-up: our id, the Stripe PaymentIntent, its status, and how much of it was refunded."""

    class Meta:
        table_name = table_name("payments")
        region = _region()
        logical_name = "payments"

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    payment_intent_id = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")  # pending | succeeded | failed | canceled
    refunded_amount = NumberAttribute(default=0)
    ledger_tx_id = UnicodeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_intent = PaymentsByIntent()
    by_user = PaymentsByUser()


class WithdrawalsByStatus(GlobalSecondaryIndex["WithdrawalModel"]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class WithdrawalModel(Model):
    """A withdrawal request: funds held in pending withdrawals until an admin approves or rejects."""

    class Meta:
        table_name = table_name("withdrawals")
        region = _region()
        logical_name = "withdrawals"

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute(default="requested")  # requested | approved | rejected
    request_tx_id = UnicodeAttribute()
    decision_tx_id = UnicodeAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    payout_ref = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    decided_at = NumberAttribute(null=True)
    by_status = WithdrawalsByStatus()


class RefundModel(Model):
    """A refund of (part of) a top-up, reserved on its payment before anything moves.

    The reservation (``PaymentModel.refunded_amount`` raised, conditioned on its previous value) and this
    item are written in one transaction, so two concurrent refunds can never exceed the original, and a
    refund interrupted half-way is resumed from here: ``already_refunded`` rebuilds the same ledger
    transaction, the id the same Stripe idempotency key.
    """

    class Meta:
        table_name = table_name("refunds")
        region = _region()
        logical_name = "refunds"

    id = UnicodeAttribute(hash_key=True)
    payment_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    already_refunded = NumberAttribute()  # the payment's refunded amount before this refund
    status = UnicodeAttribute(default="pending")  # pending | succeeded | failed
    ledger_tx_id = UnicodeAttribute(null=True)
    stripe_refund_id = UnicodeAttribute(null=True)
    requested_by = UnicodeAttribute()
    failure_reason = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class StripeEventModel(Model):
    """Webhook events by Stripe event id: the first delivery is processed, every later one is a no-op."""

    class Meta:
        table_name = table_name("stripe_events")
        region = _region()
        logical_name = "stripe_events"

    id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    received_at = NumberAttribute()
    outcome = UnicodeAttribute(null=True)


class IdempotencyKeyModel(Model):
    """Client Idempotency-Key per user and route: the same key and body replays the first response;
    the same key with another body is refused."""

    class Meta:
        table_name = table_name("idempotency_keys")
        region = _region()
        logical_name = "idempotency_keys"

    key = UnicodeAttribute(hash_key=True)  # <user>:<route>:<client key>
    body_hash = UnicodeAttribute()
    status = NumberAttribute(null=True)
    response = UnicodeAttribute(null=True)  # JSON of the first response
    created_at = NumberAttribute()
    expires_at = TTLAttribute()


LEDGER_MODELS: tuple[type[Model], ...] = (LedgerTransactionModel, LedgerAccountModel, LedgerEntryModel)
WALLET_MODELS: tuple[type[Model], ...] = (
    *LEDGER_MODELS,
    PaymentModel,
    WithdrawalModel,
    StripeEventModel,
    IdempotencyKeyModel,
    RefundModel,
)

ALL_MODELS: tuple[type[Model], ...] = (
    UserModel,
    AuthSessionModel,
    RateLimitModel,
    SecurityEventModel,
    DeviceModel,
    LatestReadingModel,
    RawReadingModel,
    RollupModel,
    DeadLetterModel,
    *WALLET_MODELS,
)
# Which context owns which table (least-privilege grants in CDK follow this).
OWNERS: dict[str, tuple[type[Model], ...]] = {
    "identity": (UserModel, AuthSessionModel, RateLimitModel, SecurityEventModel),
    "devices": (DeviceModel,),
    "telemetry": (LatestReadingModel, RawReadingModel, RollupModel, DeadLetterModel),
    "wallets": WALLET_MODELS,
}
TTL_ATTRIBUTES: dict[str, str] = {
    "telemetry_raw": "expires_at",
    "auth_sessions": "expires_at",
    "rate_limits": "expires_at",
    "idempotency_keys": "expires_at",
}


def ensure_tables() -> None:
    """Create every table that does not exist (local stack and tests; CDK creates them on AWS)."""
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
