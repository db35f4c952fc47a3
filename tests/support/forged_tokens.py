"""Forged and misused bearer tokens, each made from the claims of a real access token (moto's Cognito signs
with the key of its bundled JWKS, which the local stack and the `aws` fixture both trust).

Used by the sweep over every protected route in-process (tests/integration/identity/test_forged_tokens.py)
and by its end-to-end counterpart through the running stack (tests/e2e/test_forged_tokens.py).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import jwt
import moto.cognitoidp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gridshare.kernel.clock import now_s

RESOURCES = Path(moto.cognitoidp.__file__).parent / "resources"
# The kinds forged_tokens() makes, in its order.
FORGERIES = (
    "alg none",
    "wrong key",
    "wrong issuer",
    "wrong client",
    "expired",
    "HS256 with the public key",
    "ID token instead of access token",
    "garbage",
)
# What fills every path parameter: a well-formed id of nothing (authentication comes before any lookup).
ABSENT_ID = "01J00000000000000000000000"


def _moto_private_key() -> Any:
    with gzip.open(RESOURCES / "jwks-private.json.gz", "rt") as handle:
        document = json.load(handle)
    key = document["keys"][0] if "keys" in document else document
    return RSAAlgorithm.from_jwk(json.dumps(key))


def _moto_public_pem() -> bytes:
    with gzip.open(RESOURCES / "jwks-public.json.gz", "rt") as handle:
        key = RSAAlgorithm.from_jwk(json.dumps(json.load(handle)["keys"][0]))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _hs256_with(claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'dummy'})}.{_b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def forged_tokens(claims: dict[str, Any], id_token: str) -> dict[str, str]:
    """Each forgery starts from the claims of a real access token of an admin-looking user."""
    now = int(now_s())
    admin_claims = {**claims, "cognito:groups": ["admin"]}
    moto_key = _moto_private_key()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = {"kid": "dummy"}
    tokens = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'dummy'})}.{_b64(admin_claims)}.",
        "wrong key": jwt.encode(admin_claims, other_key, algorithm="RS256", headers=header),
        "wrong issuer": jwt.encode(
            {**admin_claims, "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_evil"},
            moto_key,
            algorithm="RS256",
            headers=header,
        ),
        "wrong client": jwt.encode(
            {**admin_claims, "client_id": "someone-elses-app"}, moto_key, algorithm="RS256", headers=header
        ),
        "expired": jwt.encode(
            {**admin_claims, "iat": now - 7200, "exp": now - 3600}, moto_key, algorithm="RS256", headers=header
        ),
        "HS256 with the public key": _hs256_with(admin_claims, _moto_public_pem()),
        "ID token instead of access token": id_token,
        "garbage": "not-a-jwt",
    }
    assert tuple(tokens) == FORGERIES
    return tokens


def protected_operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation of the OpenAPI document that declares security."""
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and operation.get("security")
    ]


def concrete(path: str) -> str:
    return re.sub(r"{\w+}", ABSENT_ID, path)
