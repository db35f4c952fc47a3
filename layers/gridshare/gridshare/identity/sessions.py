"""Token revocation and server-side sessions.

Cognito's access tokens are self-contained JWTs (moto's `global_sign_out` does not even make them fail
an offline check), so revocation is ours: each user has a `tokens_revoked_at` second, and an access
token issued at or before it is refused by the authorizer and the route guard. Refresh tokens are opaque;
each login stores a session keyed by a hash of the refresh token, and refresh is refused when the
session is gone or older than the revocation.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist

from gridshare.http import revocations
from gridshare.identity.models import AuthSessionModel, UserModel
from gridshare.kernel import errors
from gridshare.kernel.clock import now, now_ms, now_s
from gridshare.kernel.roles import Caller
from gridshare.kernel.settings import get_settings


class RevokedSession(errors.AuthenticationFailed):
    """A genuine session used after its user's revocation: the security log wants to know whose."""

    def __init__(self, detail: str, user_id: str) -> None:
        super().__init__(detail)
        self.user_id = user_id


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def assert_token_current(caller: Caller) -> None:
    """Refuse tokens of unknown or disabled users, and tokens issued before the user's revocation."""
    try:
        user = UserModel.get(caller.user_id, attributes_to_get=["status", "tokens_revoked_at"])
    except DoesNotExist:
        raise errors.AuthenticationFailed("The token is not valid.") from None
    if user.status == "disabled":
        raise errors.AuthenticationFailed("The account is disabled.")
    if user.tokens_revoked_at is not None and caller.issued_at <= int(user.tokens_revoked_at):
        raise errors.AuthenticationFailed("The token has been revoked.")


def revoke_tokens(user_id: str) -> None:
    """Every token issued up to this second stops working; every refresh session ends.

    The second goes to the revocations item first (what every other Lambda's route guard reads), then to
    the user (what identity's own refresh and 2FA checks read)."""
    at_s = int(now_s())
    revocations.revoke(user_id, at_s)
    UserModel(id=user_id).update(actions=[UserModel.tokens_revoked_at.set(at_s)])
    for key in AuthSessionModel.by_user.query(user_id):
        AuthSessionModel(id=key.id).delete()


def wait_past_revocation(user: UserModel) -> None:
    """JWT `iat` has one-second resolution: a login in the same second as a logout would be refused."""
    if user.tokens_revoked_at is not None:
        remaining = (int(user.tokens_revoked_at) + 1) - now_s()
        if 0 < remaining <= 1:
            time.sleep(remaining)


def open_refresh_session(user_id: str, refresh_token: str | None) -> None:
    if not refresh_token:
        return
    days = get_settings().refresh_session_days
    AuthSessionModel(
        id=secret_hash(refresh_token),
        kind="refresh",
        user_id=user_id,
        created_at=now_ms(),
        expires_at=now() + timedelta(days=days),
    ).save()


def refresh_session_user(refresh_token: str) -> str:
    """The user of a live refresh session, or AuthenticationFailed (revoked, expired, unknown)."""
    try:
        session = AuthSessionModel.get(secret_hash(refresh_token))
    except DoesNotExist:
        raise errors.AuthenticationFailed("The refresh token is not valid.") from None
    if session.kind != "refresh" or session.expires_at.timestamp() < now_s():
        raise errors.AuthenticationFailed("The refresh token is not valid.")
    user = UserModel.get(session.user_id, attributes_to_get=["status", "tokens_revoked_at"])
    if user.status == "disabled" or (
        user.tokens_revoked_at is not None and int(session.created_at) // 1000 <= int(user.tokens_revoked_at)
    ):
        raise RevokedSession("The refresh token has been revoked.", str(session.user_id))
    return str(session.user_id)


def session_view(session: AuthSessionModel) -> dict[str, Any]:
    return {"kind": session.kind, "createdAt": int(session.created_at)}
