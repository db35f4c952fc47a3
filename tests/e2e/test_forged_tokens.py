"""Forged and misused tokens get 401 on every protected route of the running API."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
from pathlib import Path
from typing import Any

import jwt
import moto.cognitoidp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.e2e.conftest import Stack, env_json

pytestmark = pytest.mark.e2e
RESOURCES = Path(moto.cognitoidp.__file__).parent / "resources"


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


def forged_tokens(claims: dict[str, Any], id_token: str) -> dict[str, str]:
    """Each forgery starts from the claims of a real access token of an admin-looking user."""
    now = int(time.time())
    admin_claims = {**claims, "cognito:groups": ["admin"]}
    moto_key = _moto_private_key()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = {"kid": "dummy"}
    return {
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


def _hs256_with(claims: dict[str, Any], secret: bytes) -> str:
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'dummy'})}.{_b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def test_forged_tokens_are_refused_on_every_protected_route(stack: Stack) -> None:
    user = stack.register("forger@example.com", role="consumer")
    claims = jwt.decode(user["accessToken"], options={"verify_signature": False})
    assert claims["iss"].endswith(env_json(stack)["GS_USER_POOL_ID"])
    tokens = forged_tokens(claims, user["idToken"])
    spec = stack.call("GET", "/v1/openapi.json").json()
    protected = [
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if op.get("security")
    ]
    assert len(protected) >= 6
    cases = 0
    for method, path in protected:
        concrete = re.sub(r"{\w+}", "01J00000000000000000000000", path)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        for name, token in tokens.items():
            response = stack.call(method, concrete, body, token=token)
            assert response.status_code == 401, f"{name} on {method} {path}: {response.status_code} {response.text}"
            assert response.headers["Content-Type"] == "application/problem+json"
            cases += 1
        missing = stack.call(method, concrete, body)
        assert missing.status_code == 401, f"no token on {method} {path}"
    # the genuine token still works, so the 401s above are about the forgeries
    assert stack.call("GET", "/v1/me", token=user["accessToken"]).status_code == 200
    # and after logout the genuine token is refused everywhere too
    assert stack.call("POST", "/v1/auth/logout", token=user["accessToken"]).status_code == 204
    for method, path in protected:
        concrete = re.sub(r"{\w+}", "01J00000000000000000000000", path)
        body = {} if method in ("POST", "PUT", "PATCH", "DELETE") else None
        response = stack.call(method, concrete, body, token=user["accessToken"])
        assert response.status_code == 401, f"revoked token on {method} {path}: {response.status_code}"
        cases += 1
    print(f"token attack cases: {cases} ({len(protected)} routes x ({len(tokens)} forgeries + after logout)), all 401")
