"""Forged and misused tokens get 401 from the running API (the local stack, its route guard fetching the
pool's JWKS from the Cognito endpoint over HTTP).

Every forgery kind (tests/support/forged_tokens.py), no token, and the genuine token after logout, each on
a read and on a write of a protected route here; the sweep of the same kinds over every protected route of
the OpenAPI document runs in-process (tests/integration/identity/test_forged_tokens.py), where one request
costs a fraction of one through the stack.
"""

from __future__ import annotations

import jwt
import pytest

from tests.e2e.conftest import Stack, env_json
from tests.support.forged_tokens import FORGERIES, concrete, forged_tokens, protected_operations

pytestmark = pytest.mark.e2e


def test_forged_tokens_are_refused_by_the_running_api(stack: Stack) -> None:
    user = stack.register("forger@example.com", role="consumer")
    claims = jwt.decode(user["accessToken"], options={"verify_signature": False})
    assert claims["iss"].endswith(env_json(stack)["GS_USER_POOL_ID"])
    tokens = forged_tokens(claims, user["idToken"])
    assert tuple(tokens) == FORGERIES
    protected = protected_operations(stack.call("GET", "/v1/openapi.json").json())
    assert len(protected) >= 6
    # a read and a write (with a path parameter, if the document has one) of the document's protected routes
    read = ("GET", "/v1/me")
    write = next((op for op in protected if op[0] == "POST" and "{" in op[1]), None) or next(
        op for op in protected if op[0] in ("POST", "PUT", "PATCH")
    )
    assert read in protected
    routes = (read, write)
    cases = 0
    for method, path in routes:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        for name, token in tokens.items():
            response = stack.call(method, concrete(path), body, token=token)
            assert response.status_code == 401, f"{name} on {method} {path}: {response.status_code} {response.text}"
            assert response.headers["Content-Type"] == "application/problem+json"
            cases += 1
        missing = stack.call(method, concrete(path), body)
        assert missing.status_code == 401, f"no token on {method} {path}"
        assert missing.headers["Content-Type"] == "application/problem+json"
    # the genuine token still works, so the 401s above are about the forgeries
    assert stack.call("GET", "/v1/me", token=user["accessToken"]).status_code == 200
    # and after logout the genuine token is refused too
    assert stack.call("POST", "/v1/auth/logout", token=user["accessToken"]).status_code == 204
    for method, path in routes:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = stack.call(method, concrete(path), body, token=user["accessToken"])
        assert response.status_code == 401, f"revoked token on {method} {path}: {response.status_code}"
        cases += 1
    print(f"token attack cases: {cases} ({len(routes)} routes x ({len(tokens)} forgeries + after logout)), all 401")
