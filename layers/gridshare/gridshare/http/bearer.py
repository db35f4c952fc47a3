"""The checks of a presented token that need no JWT library: a cold start that refuses a missing or
malformed token does not import jwt and cryptography (~45-60 ms) for it, and neither does a request that
API Gateway's TOKEN authorizer has already verified (decision 0030).

`check_token_shape` raises exactly what `gridshare.http.auth.verify_access_token` raises for such a token
(which calls it first): no token, or one PyJWT cannot split into header, payload and signature.

`authorized_caller` reads the caller that the TOKEN authorizer (gridshare.identity.authorizer) returned
for this request, as API Gateway hands it to the function in `requestContext.authorizer`: the
authorizer's `principalId` and its context (`Caller.as_context`). Only API Gateway fills that member:
the API functions may be invoked by this API alone (infra_cdk/constructs/api.py), every protected method
has the authorizer, and neither Chalice's local server nor its test client ever sets it (our routes
declare no Chalice authorizer), so no client can send one. A context that is absent or lacks anything the
guard needs gives None, and the token is verified in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridshare.kernel import clock
from gridshare.kernel.errors import AuthenticationFailed
from gridshare.kernel.roles import ROLE_ORDER, Caller, role_of

CLOCK_SKEW_S = 5
"""Leeway on a token's times, as PyJWT would allow (gridshare.http.auth)."""

_CONTEXT_KEYS = ("principalId", "userId", "sub", "role", "groups", "iat", "exp", "jti")


def check_token_shape(token: str) -> None:
    """AuthenticationFailed for an empty token or one without three dot-separated segments."""
    if not token:
        raise AuthenticationFailed("A bearer access token is required.")
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if token.count(".") < 2:  # PyJWT: "Not enough segments" (DecodeError)
        raise AuthenticationFailed("The token is malformed.")


def check_not_expired(expires_at: int) -> None:
    """AuthenticationFailed once `expires_at` (epoch s) is CLOCK_SKEW_S behind the kernel clock."""
    if expires_at <= clock.now_s() - CLOCK_SKEW_S:
        raise AuthenticationFailed("The token has expired.")


def _seconds(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None


def authorized_caller(authorizer: Any) -> Caller | None:
    """The caller in API Gateway's `requestContext.authorizer`, or None when it is absent or incomplete
    (every value a string, `principalId` the user, a known role matching the groups, numeric times)."""
    if not isinstance(authorizer, Mapping):
        return None
    values = [authorizer.get(key) for key in _CONTEXT_KEYS]
    texts = [value for value in values if isinstance(value, str)]
    if len(texts) != len(_CONTEXT_KEYS):
        return None
    principal, user_id, sub, role, groups_text, iat_text, exp_text, jti = texts
    groups = tuple(group for group in groups_text.split(",") if group)
    issued_at, expires_at = _seconds(iat_text), _seconds(exp_text)
    if not user_id or principal != user_id or not sub or role not in ROLE_ORDER or role != role_of(groups):
        return None
    if issued_at is None or expires_at is None:
        return None
    return Caller(
        user_id=user_id,
        sub=sub,
        role=role,
        groups=groups,
        issued_at=issued_at,
        token_id=jti,
        expires_at=expires_at,
    )
