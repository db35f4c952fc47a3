"""The security log, dashboard and threats as an admin console reads them, through the running stack."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def test_admin_sees_failures_lockouts_and_token_reuse(stack: Stack) -> None:
    # Given a user who is attacked, and who reuses a token after logging out
    login = stack.register("watched@example.com")
    for i in range(5):
        stack.call(
            "POST",
            "/v1/auth/login",
            {"email": "watched@example.com", "password": f"Nope-{i}-Passw0rd"},
            headers={"User-Agent": "attacker/1.0"},
        )
    stack.call("POST", "/v1/auth/logout", token=login["accessToken"])
    assert stack.call("GET", "/v1/me", token=login["accessToken"]).status_code == 401
    admin = stack.admin_token()

    # When an admin reads the security log, the dashboard and the threats
    user_id = login["user"]["id"]
    events = stack.call("GET", "/v1/security/events", params={"userId": user_id}, token=admin).json()["data"]
    dashboard = stack.call("GET", "/v1/security/dashboard", token=admin).json()["data"]
    threats = stack.call("GET", "/v1/security/threats", token=admin).json()["data"]

    # Then each is there, with IP and user agent
    types = {e["type"] for e in events}
    assert {"login_failed", "account_locked", "logout", "token_refused", "login_succeeded"} <= types
    failed = [e for e in events if e["type"] == "login_failed"]
    assert failed[0]["ip"] == "127.0.0.1" and failed[0]["userAgent"] == "attacker/1.0"
    assert dashboard["counts"]["last24h"]["login_failed"] >= 5 and dashboard["lockedAccounts"]
    kinds = {t["type"] for t in threats}
    assert {"brute_force", "token_reuse_after_logout"} <= kinds
    assert stack.call("GET", "/v1/security/events", token=login["accessToken"]).status_code == 401
