"""The identity context's tables: users, refresh/2FA sessions, rate limits, security events."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from gridshare.http.revocations import TokenRevocationModel
from gridshare.kernel.tables import TableMeta


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

    class Meta(TableMeta):
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

    class Meta(TableMeta):
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

    class Meta(TableMeta):
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

    class Meta(TableMeta):
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


# Identity also owns (and alone writes) the token revocations every route guard reads (gridshare.http.revocations).
TABLES: tuple[type[Model], ...] = (
    UserModel,
    AuthSessionModel,
    RateLimitModel,
    SecurityEventModel,
    TokenRevocationModel,
)
