"""Forged and misused tokens get 401 on every protected route, through the whole API in-process (Chalice's
test client runs our route guard, the code the deployed functions and the local stack run) against moto:
every operation of the OpenAPI document that declares security, once for each forgery
(tests/support/forged_tokens.py), with no token at all, and with the genuine token after logout. One test
per kind, so the sweeps spread over the xdist workers. The same forgeries reach the running stack over HTTP
in tests/e2e/test_forged_tokens.py.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from tests.support.api import Api, register_user
from tests.support.forged_tokens import FORGERIES, concrete, forged_tokens, protected_operations

# The document is the same for every test of a worker: read once (building it takes about a second).
_PROTECTED: list[tuple[str, str]] = []


def _forger(api: Api, aws: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    user = register_user(api, "forger@example.com", role="consumer")
    claims = jwt.decode(user["accessToken"], options={"verify_signature": False})
    assert claims["iss"].endswith(aws["GS_USER_POOL_ID"])
    if not _PROTECTED:
        _PROTECTED.extend(protected_operations(json.loads(api.call("GET", "/v1/openapi.json").body)))
    assert len(_PROTECTED) >= 6
    return user, _PROTECTED


def _refused(api: Api, method: str, path: str, body: Any, token: str | None, what: str) -> None:
    response = api.call(method, concrete(path), body, token=token)
    assert response.status_code == 401, f"{what} on {method} {path}: {response.status_code} {response.body}"
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_token_is_refused_on_every_protected_route(api: Api, aws: dict[str, str], forgery: str) -> None:
    user, protected = _forger(api, aws)
    claims = jwt.decode(user["accessToken"], options={"verify_signature": False})
    token = forged_tokens(claims, user["idToken"])[forgery]
    for method, path in protected:
        _refused(api, method, path, {} if method in ("POST", "PUT", "PATCH") else None, token, forgery)
    # the genuine token still works, so the 401s above are about the forgery
    assert api.call("GET", "/v1/me", token=user["accessToken"]).status_code == 200


def test_no_token_is_refused_on_every_protected_route(api: Api, aws: dict[str, str]) -> None:
    _, protected = _forger(api, aws)
    for method, path in protected:
        _refused(api, method, path, {} if method in ("POST", "PUT", "PATCH") else None, None, "no token")


def test_the_genuine_token_is_refused_on_every_protected_route_after_logout(api: Api, aws: dict[str, str]) -> None:
    user, protected = _forger(api, aws)
    assert api.call("GET", "/v1/me", token=user["accessToken"]).status_code == 200
    assert api.call("POST", "/v1/auth/logout", token=user["accessToken"]).status_code == 204
    for method, path in protected:
        body = {} if method in ("POST", "PUT", "PATCH", "DELETE") else None
        _refused(api, method, path, body, user["accessToken"], "revoked token")
