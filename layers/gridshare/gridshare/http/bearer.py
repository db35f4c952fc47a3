"""The checks of a presented token that need no JWT library: a cold start that refuses a missing or
malformed token does not import jwt and cryptography (~45-60 ms) for it.

`check_token_shape` raises exactly what `gridshare.http.auth.verify_access_token` raises for such a token
(which calls it first): no token, or one PyJWT cannot split into header, payload and signature.
"""

from __future__ import annotations

from gridshare.kernel.errors import AuthenticationFailed


def check_token_shape(token: str) -> None:
    """AuthenticationFailed for an empty token or one without three dot-separated segments."""
    if not token:
        raise AuthenticationFailed("A bearer access token is required.")
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if token.count(".") < 2:  # PyJWT: "Not enough segments" (DecodeError)
        raise AuthenticationFailed("The token is malformed.")
