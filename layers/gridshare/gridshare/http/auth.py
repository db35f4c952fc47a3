"""Verification of Cognito access tokens, done by us in every mode.

API Gateway's Cognito authorizer is not enforced by Chalice locally, and moto's tokens are real RS256
JWTs, so the same check runs everywhere: in the API Gateway TOKEN authorizer Lambda and again in every
protected route (gridshare.http.api). Only RS256 is accepted; issuer, client, token_use and expiry are
checked (times on the kernel clock, gridshare.kernel.clock); the key comes from the pool's JWKS, fetched once per
container and again on an unknown key id.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import jwt
from jwt.algorithms import RSAAlgorithm

from gridshare.http.bearer import CLOCK_SKEW_S, check_token_shape
from gridshare.kernel import clock
from gridshare.kernel.errors import AuthenticationFailed
from gridshare.kernel.roles import Caller, role_of
from gridshare.kernel.settings import Settings, get_settings

__all__ = ["CLOCK_SKEW_S", "JwksCache", "role_of", "verify_access_token"]


class JwksCache:
    """Public keys by kid, loaded lazily; refetched at most every 60 s when an unknown kid shows up."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self.url.startswith("file://"):  # tests: a JWKS file (optionally gzipped)
            import gzip

            path = self.url[len("file://") :]
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
                document = json.load(handle)
        else:
            with urllib.request.urlopen(self.url, timeout=5) as response:  # noqa: S310 - https/http by config
                document = json.load(response)
        self._keys = {
            key["kid"]: RSAAlgorithm.from_jwk(json.dumps(key))
            for key in document.get("keys", [])
            if key.get("kty") == "RSA"
        }
        self._fetched_at = time.monotonic()

    def key(self, kid: str) -> Any:
        with self._lock:
            if kid not in self._keys and (not self._keys or time.monotonic() - self._fetched_at > 60):
                try:
                    self._load()
                except OSError as exc:
                    raise AuthenticationFailed("The token could not be verified right now.") from exc
            if kid not in self._keys:
                raise AuthenticationFailed("The token was not signed by a known key.")
            return self._keys[kid]


_jwks: dict[str, JwksCache] = {}


def _jwks_for(url: str) -> JwksCache:
    if url not in _jwks:
        _jwks[url] = JwksCache(url)
    return _jwks[url]


def _check_times(claims: dict[str, Any]) -> None:
    """`exp`, `iat` and `nbf` against the kernel clock, with CLOCK_SKEW_S of leeway (as PyJWT would)."""
    times = {name: claims.get(name) for name in ("exp", "iat", "nbf") if name in claims}
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in times.values()):
        raise AuthenticationFailed("The token is not valid.")
    now = clock.now_s()
    if times["exp"] <= now - CLOCK_SKEW_S:
        raise AuthenticationFailed("The token has expired.")
    if times["iat"] > now + CLOCK_SKEW_S or times.get("nbf", 0) > now + CLOCK_SKEW_S:
        raise AuthenticationFailed("The token is not valid.")


def verify_access_token(token: str, settings: Settings | None = None) -> Caller:
    """Verify a Cognito access token and return the caller, or raise AuthenticationFailed."""
    settings = settings or get_settings()
    check_token_shape(token)
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthenticationFailed("The token is malformed.") from None
    if header.get("alg") != "RS256":
        raise AuthenticationFailed("The token's algorithm is not accepted.")
    key = _jwks_for(settings.resolved_jwks_url).key(str(header.get("kid", "")))
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=["RS256"],
            issuer=settings.issuer,
            options={
                "require": ["exp", "iat", "iss", "sub", "token_use"],
                "verify_aud": False,
                # PyJWT reads the real time; times are checked below on the kernel clock (the local stack moves it)
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError:
        raise AuthenticationFailed("The token is not valid.") from None
    _check_times(claims)
    if claims.get("token_use") != "access":
        raise AuthenticationFailed("An access token is required.")
    if claims.get("client_id") != settings.user_pool_client_id:
        raise AuthenticationFailed("The token was issued to another client.")
    groups = tuple(claims.get("cognito:groups") or ())
    return Caller(
        user_id=str(claims.get("username") or claims["sub"]),
        sub=str(claims["sub"]),
        role=role_of(groups),
        groups=groups,
        issued_at=int(claims["iat"]),
        token_id=str(claims.get("jti", "")),
        expires_at=int(claims["exp"]),
    )
