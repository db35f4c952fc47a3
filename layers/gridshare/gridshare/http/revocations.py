"""Token revocation as the route guard of every protected Lambda sees it: one small item per user.

Access tokens are self-contained JWTs, so logout, a role change, a disable or a password reset cannot
recall them; instead the identity context writes the second up to which a user's tokens are refused
(`revoke`), and the guard (gridshare.http.api) and the API Gateway authorizer read only this item
(`assert_token_current`) — never the users table, which no Lambda outside identity is granted.
A disabled user is revoked when disabled and cannot log in or refresh again, so the second suffices.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model

from gridshare.kernel import errors
from gridshare.kernel.roles import Caller
from gridshare.kernel.tables import TableMeta, failed_condition


class TokenRevocationModel(Model):
    """Per user: tokens issued at or before `revoked_at` (epoch seconds, JWT `iat`) are refused.

    Owned and written by identity (gridshare.identity.sessions); read-only for every other API Lambda.
    """

    class Meta(TableMeta):
        logical_name = "token_revocations"

    user_id = UnicodeAttribute(hash_key=True)
    revoked_at = NumberAttribute()


def revoke(user_id: str, at_s: int) -> None:
    """Refuse every token of `user_id` issued up to `at_s` (never moves the second backwards)."""
    try:
        TokenRevocationModel(user_id=user_id).update(
            actions=[TokenRevocationModel.revoked_at.set(at_s)],
            condition=TokenRevocationModel.revoked_at.does_not_exist() | (TokenRevocationModel.revoked_at < at_s),
        )
    except UpdateError as exc:
        if not failed_condition(exc):
            raise


def revoked_at(user_id: str) -> int | None:
    try:
        item = TokenRevocationModel.get(user_id)
    except DoesNotExist:
        return None
    return int(item.revoked_at)


def assert_token_current(caller: Caller) -> None:
    """Refuse a token issued at or before its user's revocation second."""
    revoked = revoked_at(caller.user_id)
    if revoked is not None and caller.issued_at <= revoked:
        raise errors.AuthenticationFailed("The token has been revoked.")
