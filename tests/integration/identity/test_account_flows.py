"""Refresh, logout (revocation), password reset, resend verification, lockout, profile and user admin."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import Api, create_admin, register_user


def _json(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def _admin(api: Api) -> str:
    create_admin()
    login = api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"})
    return str(_json(login)["data"]["accessToken"])


def test_refresh_then_logout_revokes_access_and_refresh_tokens(api: Api) -> None:
    # Given a logged-in user
    login = register_user(api, "out@example.com")
    # When they refresh, the new access token works
    refreshed = api.call("POST", "/v1/auth/refresh", {"refreshToken": login["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.body
    new_access = _json(refreshed)["data"]["accessToken"]
    assert api.call("GET", "/v1/me", token=new_access).status_code == 200
    # When they log out
    assert api.call("POST", "/v1/auth/logout", token=login["accessToken"]).status_code == 204
    # Then every token issued before is refused, and so is refresh
    assert api.call("GET", "/v1/me", token=login["accessToken"]).status_code == 401
    assert api.call("GET", "/v1/me", token=new_access).status_code == 401
    assert api.call("POST", "/v1/auth/refresh", {"refreshToken": login["refreshToken"]}).status_code == 401
    # And a new login works again
    again = api.call("POST", "/v1/auth/login", {"email": "out@example.com", "password": "Passw0rd!x"})
    assert api.call("GET", "/v1/me", token=_json(again)["data"]["accessToken"]).status_code == 200
    assert api.call("POST", "/v1/auth/refresh", {"refreshToken": "made-up"}).status_code == 401


def test_password_reset_is_single_use_and_does_not_reveal_accounts(api: Api) -> None:
    login = register_user(api, "reset@example.com")
    known = api.call("POST", "/v1/auth/forgot-password", {"email": "reset@example.com"})
    unknown = api.call("POST", "/v1/auth/forgot-password", {"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.body == unknown.body
    mail = _json(api.call("GET", "/_local/outbox?to=reset@example.com"))["data"]
    code = [m for m in mail if "reset" in m["subject"].lower()][-1]["code"]
    wrong = "000000" if code != "000000" else "111111"
    bad = api.call(
        "POST", "/v1/auth/reset-password", {"email": "reset@example.com", "code": wrong, "newPassword": "N3w-Passw0rd"}
    )
    assert bad.status_code == 422 and _json(bad)["errors"][0]["field"] == "code"
    ok = api.call(
        "POST", "/v1/auth/reset-password", {"email": "reset@example.com", "code": code, "newPassword": "N3w-Passw0rd"}
    )
    assert ok.status_code == 204, ok.body
    # single use
    again = api.call(
        "POST",
        "/v1/auth/reset-password",
        {"email": "reset@example.com", "code": code, "newPassword": "Other-Passw0rd1"},
    )
    assert again.status_code == 422
    # the old sessions are over, the old password is refused, the new one works
    assert api.call("GET", "/v1/me", token=login["accessToken"]).status_code == 401
    old = api.call("POST", "/v1/auth/login", {"email": "reset@example.com", "password": "Passw0rd!x"})
    assert old.status_code == 401
    new = api.call("POST", "/v1/auth/login", {"email": "reset@example.com", "password": "N3w-Passw0rd"})
    assert new.status_code == 200
    ghost = api.call(
        "POST",
        "/v1/auth/reset-password",
        {"email": "ghost@example.com", "code": "123456", "newPassword": "N3w-Passw0rd"},
    )
    assert ghost.status_code == 422 and _json(ghost)["detail"] == _json(bad)["detail"]


def test_resend_verification_sends_a_new_code(api: Api) -> None:
    api.call(
        "POST",
        "/v1/auth/register",
        {"email": "slow@example.com", "password": "Passw0rd!x", "name": "S", "role": "consumer"},
    )
    first = _json(api.call("GET", "/_local/outbox?to=slow@example.com"))["data"][-1]["code"]
    assert api.call("POST", "/v1/auth/resend-verification", {"email": "slow@example.com"}).status_code == 202
    assert api.call("POST", "/v1/auth/resend-verification", {"email": "nobody@example.com"}).status_code == 202
    mails = _json(api.call("GET", "/_local/outbox?to=slow@example.com"))["data"]
    assert len(mails) == 2
    second = mails[-1]["code"]
    if first != second:  # the old code no longer works
        assert (
            api.call("POST", "/v1/auth/verify-email", {"email": "slow@example.com", "code": first}).status_code == 422
        )
    assert api.call("POST", "/v1/auth/verify-email", {"email": "slow@example.com", "code": second}).status_code == 200


@pytest.mark.parametrize("email", ["victim@example.com", "nobody-here@example.com"])
def test_sixth_attempt_is_refused_even_with_the_right_password(api: Api, email: str) -> None:
    register_user(api, "victim@example.com")
    answers = [
        api.call("POST", "/v1/auth/login", {"email": email, "password": f"Wrong-{i}-Passw0rd"}) for i in range(5)
    ]
    assert [a.status_code for a in answers] == [401] * 5
    # unknown and known emails answer the same, including when locked
    sixth = api.call("POST", "/v1/auth/login", {"email": email, "password": "Passw0rd!x"})
    assert sixth.status_code == 429
    assert _json(sixth)["detail"] == "Too many failed attempts. Try again later."
    assert int(sixth.headers["Retry-After"]) > 0


def test_profile_updates_never_touch_role_or_email(api: Api) -> None:
    login = register_user(api, "me@example.com", role="consumer")
    token = login["accessToken"]
    ok = api.call(
        "PATCH",
        "/v1/me",
        {
            "name": "New Name",
            "phone": "+4915112345678",
            "avatarUrl": "https://cdn.example.com/a.png",
            "preferences": {"units": "kWh"},
        },
        token=token,
    )
    assert ok.status_code == 200, ok.body
    data = _json(ok)["data"]
    assert (data["name"], data["phone"], data["preferences"]) == ("New Name", "+4915112345678", {"units": "kWh"})
    for forbidden in ({"role": "admin"}, {"email": "other@example.com"}):
        refused = api.call("PATCH", "/v1/me", forbidden, token=token)
        assert refused.status_code == 422
    assert _json(api.call("GET", "/v1/me", token=token))["data"]["role"] == "consumer"
    bad_phone = api.call("PATCH", "/v1/me", {"phone": "12"}, token=token)
    assert bad_phone.status_code == 422 and _json(bad_phone)["errors"][0]["field"] == "phone"


def test_admin_lists_changes_role_and_disables(api: Api) -> None:
    user = register_user(api, "worker@example.com", role="consumer")
    admin = _admin(api)
    listed = _json(api.call("GET", "/v1/users?role=consumer", token=admin))["data"]
    assert [u["email"] for u in listed] == ["worker@example.com"]
    assert api.call("GET", "/v1/users", token=user["accessToken"]).status_code == 403
    user_id = user["user"]["id"]
    # role change: the old token (with the old group) stops working; a new login has the new role
    changed = api.call("PATCH", f"/v1/users/{user_id}", {"role": "operator"}, token=admin)
    assert changed.status_code == 200 and _json(changed)["data"]["role"] == "operator"
    assert api.call("GET", "/v1/me", token=user["accessToken"]).status_code == 401
    relog = _json(api.call("POST", "/v1/auth/login", {"email": "worker@example.com", "password": "Passw0rd!x"}))
    assert relog["data"]["user"]["role"] == "operator"
    assert api.call("GET", "/v1/devices", token=relog["data"]["accessToken"]).status_code == 200
    # disable: tokens refused and login refused like a wrong password; enable restores login
    assert api.call("PATCH", f"/v1/users/{user_id}", {"status": "disabled"}, token=admin).status_code == 200
    assert api.call("GET", "/v1/me", token=relog["data"]["accessToken"]).status_code == 401
    refused = api.call("POST", "/v1/auth/login", {"email": "worker@example.com", "password": "Passw0rd!x"})
    assert refused.status_code == 401
    assert api.call("PATCH", f"/v1/users/{user_id}", {"status": "active"}, token=admin).status_code == 200
    back = api.call("POST", "/v1/auth/login", {"email": "worker@example.com", "password": "Passw0rd!x"})
    assert back.status_code == 200
    assert api.call("GET", "/v1/users/01J00000000000000000000000", token=admin).status_code == 404
    assert api.call("PATCH", f"/v1/users/{user_id}", {"role": "superuser"}, token=admin).status_code == 422
