"""Every account flow as a mobile app calls it, through the running local stack."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def test_refresh_and_logout_that_revokes(stack: Stack) -> None:
    login = stack.register("mobile@example.com")
    refreshed = stack.call("POST", "/v1/auth/refresh", {"refreshToken": login["refreshToken"]})
    assert refreshed.status_code == 200
    assert stack.call("POST", "/v1/auth/logout", token=login["accessToken"]).status_code == 204
    for token in (login["accessToken"], refreshed.json()["data"]["accessToken"]):
        refused = stack.call("GET", "/v1/me", token=token)
        assert refused.status_code == 401 and refused.json()["detail"] == "The token has been revoked."
    assert stack.call("POST", "/v1/auth/refresh", {"refreshToken": login["refreshToken"]}).status_code == 401


def test_forgot_and_reset_password(stack: Stack) -> None:
    stack.register("forgot@example.com")
    assert stack.call("POST", "/v1/auth/forgot-password", {"email": "forgot@example.com"}).status_code == 202
    mails = stack.call("GET", "/_local/outbox", params={"to": "forgot@example.com"}).json()["data"]
    code = [m for m in mails if "reset" in m["subject"].lower()][-1]["code"]
    body = {"email": "forgot@example.com", "code": code, "newPassword": "Brand-N3w-Pass"}
    assert stack.call("POST", "/v1/auth/reset-password", body).status_code == 204
    assert stack.call("POST", "/v1/auth/reset-password", body).status_code == 422  # single use
    login = stack.call("POST", "/v1/auth/login", {"email": "forgot@example.com", "password": "Brand-N3w-Pass"})
    assert login.status_code == 200


def test_resend_verification(stack: Stack) -> None:
    stack.call(
        "POST",
        "/v1/auth/register",
        {"email": "later@example.com", "password": "Passw0rd!x", "name": "L", "role": "investor"},
    )
    assert stack.call("POST", "/v1/auth/resend-verification", {"email": "later@example.com"}).status_code == 202
    mails = stack.call("GET", "/_local/outbox", params={"to": "later@example.com"}).json()["data"]
    assert len(mails) == 2
    verified = stack.call("POST", "/v1/auth/verify-email", {"email": "later@example.com", "code": mails[-1]["code"]})
    assert verified.status_code == 200


def test_brute_force_locks_and_looks_the_same_for_unknown_emails(stack: Stack) -> None:
    stack.register("target@example.com")
    for email in ("target@example.com", "not-registered@example.com"):
        codes = [
            stack.call("POST", "/v1/auth/login", {"email": email, "password": f"Guess-{i}-x1A"}).status_code
            for i in range(5)
        ]
        assert codes == [401] * 5
        sixth = stack.call("POST", "/v1/auth/login", {"email": email, "password": "Passw0rd!x"})
        assert sixth.status_code == 429 and "Retry-After" in sixth.headers


def test_profile_and_admin_user_management(stack: Stack) -> None:
    user = stack.register("profile@example.com", role="consumer")
    patched = stack.call(
        "PATCH", "/v1/me", {"name": "Pat", "preferences": {"theme": "dark"}}, token=user["accessToken"]
    )
    assert patched.status_code == 200 and patched.json()["data"]["name"] == "Pat"
    admin = stack.admin_token()
    found = stack.call("GET", "/v1/users", params={"role": "consumer"}, token=admin).json()["data"]
    assert "profile@example.com" in [u["email"] for u in found]
    changed = stack.call("PATCH", f"/v1/users/{user['user']['id']}", {"role": "prosumer"}, token=admin)
    assert changed.status_code == 200 and changed.json()["data"]["role"] == "prosumer"
    assert stack.call("GET", "/v1/me", token=user["accessToken"]).status_code == 401


def test_hardening_headers_cors_and_limits(stack: Stack) -> None:
    allowed = stack.call("GET", "/health", headers={"Origin": "https://app.gridshare.test"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.gridshare.test"
    other = stack.call("GET", "/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    for name in (
        "X-Content-Type-Options",
        "X-Frame-Options",
        "Strict-Transport-Security",
        "Content-Security-Policy",
        "Referrer-Policy",
    ):
        assert name in allowed.headers
    big = stack.session.post(
        f"{stack.api}/v1/auth/login",
        data=b'{"email": "' + b"a" * 300_000 + b'"}',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert big.status_code == 413 and big.headers["Content-Type"] == "application/problem+json"
    crash_free = stack.call("POST", "/v1/auth/login", None, data="{", headers={"Content-Type": "application/json"})
    assert crash_free.status_code == 400 and "Traceback" not in crash_free.text
