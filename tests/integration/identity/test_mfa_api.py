"""TOTP 2FA through the whole API against moto, with real RFC 6238 codes computed from the set-up secret.

Codes are computed for the real clock. The server accepts the previous, current and next 30 s step, so a
journey that needs three distinct codes uses steps s-1 (enable), s (login) and s+1 (disable), s being the
step when the journey starts: all three stay valid for at least 30 s. `fresh_step` first waits out the
last 1.5 s of a step, so the step cannot change between computing a code and the server checking it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from gridshare.identity import totp
from tests.support.api import Api, create_admin, register_user
from tests.support.totp import fresh_step

PASSWORD = "Passw0rd!x"


def wrong_code(secret: str, step: int) -> str:
    """A well-formed code that is valid for no step near `step`."""
    near = {totp.code_at(secret, s) for s in range(step - 3, step + 4)}
    return next(c for c in (f"{d}" * 6 for d in range(10)) if c not in near)


def body(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body))


def enrol(api: Api, token: str) -> tuple[str, int]:
    """Set up and enable 2FA with the previous step's code; returns (secret, journey step s)."""
    setup = api.call("POST", "/v1/auth/2fa/setup", token=token)
    assert setup.status_code == 200, setup.body
    secret = body(setup)["data"]["secret"]
    step = fresh_step()
    enabled = api.call("POST", "/v1/auth/2fa/verify", {"code": totp.code_at(secret, step - 1)}, token=token)
    assert enabled.status_code == 200, enabled.body
    assert body(enabled) == {"data": {"twoFactorEnabled": True}}
    return secret, step


def password_login(api: Api, email: str) -> dict[str, Any]:
    response = api.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.body
    return dict(body(response)["data"])


def test_totp_journey_setup_enable_login_reuse_disable(api: Api) -> None:
    # Given a logged-in user without 2FA
    email = "tia@example.com"
    first = register_user(api, email)
    token = first["accessToken"]
    assert first["user"]["twoFactorEnabled"] is False

    # When they start the set-up, Then they get a secret and the otpauth URI to scan
    setup = api.call("POST", "/v1/auth/2fa/setup", token=token)
    assert setup.status_code == 200, setup.body
    data = body(setup)["data"]
    secret = data["secret"]
    assert len(secret) == 32
    assert data["otpauthUri"].startswith("otpauth://totp/Gridshare:tia@example.com?")
    assert f"secret={secret}" in data["otpauthUri"] and "issuer=Gridshare" in data["otpauthUri"]

    # And a wrong code does not enable it (a field error names the code)
    step = fresh_step()
    wrong = api.call("POST", "/v1/auth/2fa/verify", {"code": wrong_code(secret, step)}, token=token)
    assert wrong.status_code == 422, wrong.body
    assert [e["field"] for e in body(wrong)["errors"]] == ["code"]
    assert body(api.call("GET", "/v1/me", token=token))["data"]["twoFactorEnabled"] is False

    # When they verify with a real code of the secret (previous step: the window allows it)
    enabled = api.call("POST", "/v1/auth/2fa/verify", {"code": totp.code_at(secret, step - 1)}, token=token)
    # Then 2FA is on, and a second set-up is refused while it is on
    assert enabled.status_code == 200, enabled.body
    assert body(enabled) == {"data": {"twoFactorEnabled": True}}
    assert body(api.call("GET", "/v1/me", token=token))["data"]["twoFactorEnabled"] is True
    assert api.call("POST", "/v1/auth/2fa/setup", token=token).status_code == 409

    # When they log in with the right password, Then login answers the TOTP challenge and no tokens
    challenge = password_login(api, email)
    assert set(challenge) == {"challenge", "session"} and challenge["challenge"] == "TOTP"

    # And the code used to enable 2FA cannot complete the login (its step was used)
    replay_enable = api.call(
        "POST", "/v1/auth/login/2fa", {"session": challenge["session"], "code": totp.code_at(secret, step - 1)}
    )
    assert replay_enable.status_code == 401

    # When they complete it with a fresh real code (this step's)
    code = totp.code_at(secret, step)
    done = api.call("POST", "/v1/auth/login/2fa", {"session": challenge["session"], "code": code})
    # Then they get the same response as a password login, and the tokens work
    assert done.status_code == 200, done.body
    tokens = body(done)["data"]
    assert {"accessToken", "refreshToken", "idToken", "expiresIn", "tokenType", "user"} <= tokens.keys()
    assert tokens["user"]["email"] == email and tokens["user"]["twoFactorEnabled"] is True
    me = api.call("GET", "/v1/me", token=tokens["accessToken"])
    assert me.status_code == 200 and body(me)["data"]["email"] == email
    refreshed = api.call("POST", "/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.body

    # And the session is single use
    again = api.call("POST", "/v1/auth/login/2fa", {"session": challenge["session"], "code": code})
    assert again.status_code == 401

    # When the same code is presented again with a new login, Then it is refused (a code is good once)
    reuse = api.call("POST", "/v1/auth/login/2fa", {"session": password_login(api, email)["session"], "code": code})
    assert reuse.status_code == 401, reuse.body
    assert reuse.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in body(reuse)["errors"]] == ["code"]

    # When they disable 2FA without a valid code, Then it stays on
    token = tokens["accessToken"]
    assert api.call("DELETE", "/v1/auth/2fa", {"code": wrong_code(secret, step)}, token=token).status_code == 422
    assert api.call("DELETE", "/v1/auth/2fa", {"code": code}, token=token).status_code == 422  # used already
    assert api.call("DELETE", "/v1/auth/2fa", {}, token=token).status_code == 422
    assert body(api.call("GET", "/v1/me", token=token))["data"]["twoFactorEnabled"] is True

    # When they disable it with a valid code (the next step's, inside the window)
    off = api.call("DELETE", "/v1/auth/2fa", {"code": totp.code_at(secret, step + 1)}, token=token)
    # Then it is off, and login gives tokens directly
    assert off.status_code == 200, off.body
    assert body(off) == {"data": {"twoFactorEnabled": False}}
    assert api.call("DELETE", "/v1/auth/2fa", {"code": totp.code_at(secret, step + 1)}, token=token).status_code == 409
    direct = password_login(api, email)
    assert "accessToken" in direct and "challenge" not in direct
    assert direct["user"]["twoFactorEnabled"] is False

    # And every change was recorded in the security log
    from gridshare.identity.models import SecurityEventModel

    user_id = first["user"]["id"]
    types = [e.type for e in sorted(SecurityEventModel.scan(), key=lambda e: e.id) if e.user_id == user_id]
    for expected in ("2fa_setup_started", "2fa_enabled", "login_2fa_challenged", "login_2fa_failed", "2fa_disabled"):
        assert expected in types
    assert types.count("login_succeeded") >= 3  # the first login, the 2FA login, the direct one


def test_five_wrong_codes_lock_2fa_for_the_user(api: Api) -> None:
    # Given a user with 2FA on, in the middle of a login
    email = "lou@example.com"
    secret, step = enrol(api, register_user(api, email)["accessToken"])
    session = password_login(api, email)["session"]

    # When five wrong codes are sent
    bad = wrong_code(secret, step)
    for _ in range(5):
        response = api.call("POST", "/v1/auth/login/2fa", {"session": session, "code": bad})
        assert response.status_code == 401, response.body
        assert [e["field"] for e in body(response)["errors"]] == ["code"]

    # Then that login session is gone, even for the right code
    right = totp.code_at(secret, step)
    assert api.call("POST", "/v1/auth/login/2fa", {"session": session, "code": right}).status_code == 401

    # And 2FA is locked for the user: a new login with the right code is refused with 429
    locked = api.call("POST", "/v1/auth/login/2fa", {"session": password_login(api, email)["session"], "code": right})
    assert locked.status_code == 429, locked.body
    assert int(locked.headers["Retry-After"]) > 0

    # And another user's 2FA is not affected
    other = "max@example.com"
    other_secret, other_step = enrol(api, register_user(api, other)["accessToken"])
    ok = api.call(
        "POST",
        "/v1/auth/login/2fa",
        {"session": password_login(api, other)["session"], "code": totp.code_at(other_secret, other_step)},
    )
    assert ok.status_code == 200, ok.body


def test_two_concurrent_uses_of_one_code_cannot_both_pass(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two pending logins of one user, and the user as both requests read it (before either wrote)
    from gridshare.identity import mfa
    from gridshare.identity.models import UserModel

    email = "cy@example.com"
    login = register_user(api, email)
    user_id = login["user"]["id"]
    secret, step = enrol(api, login["accessToken"])
    first, second = password_login(api, email)["session"], password_login(api, email)["session"]
    stale = UserModel.get(user_id)
    code = totp.code_at(secret, step)

    # When the first completes with the code
    assert api.call("POST", "/v1/auth/login/2fa", {"session": first, "code": code}).status_code == 200

    # And the second, still seeing the user before the first wrote, uses the same code
    monkeypatch.setattr(mfa.UserModel, "get", classmethod(lambda cls, *a, **k: stale))
    raced = api.call("POST", "/v1/auth/login/2fa", {"session": second, "code": code})

    # Then the conditional update refuses it (the code check alone passed: the snapshot is stale)
    assert raced.status_code == 401, raced.body
    assert [e["field"] for e in body(raced)["errors"]] == ["code"]
    monkeypatch.undo()
    from gridshare.identity.models import SecurityEventModel

    failures = [e.detail for e in SecurityEventModel.scan() if e.type == "login_2fa_failed" and e.user_id == user_id]
    assert failures == [{"flow": "login", "reason": "replay"}]


def test_login_sessions_expire_and_die_with_logout(api: Api) -> None:
    from gridshare.identity.models import AuthSessionModel
    from gridshare.identity.sessions import secret_hash

    # Given a user with 2FA on and a token from before it was enabled
    email = "eve@example.com"
    token = register_user(api, email)["accessToken"]
    secret, step = enrol(api, token)
    code = totp.code_at(secret, step)

    # When the session is unknown, Then 401
    unknown = api.call("POST", "/v1/auth/login/2fa", {"session": "made-up", "code": code})
    assert unknown.status_code == 401

    # When a pending login's session has expired, Then 401 (the expiry is checked, not left to the TTL)
    session = password_login(api, email)["session"]
    item = AuthSessionModel.get(secret_hash(session))
    assert item.kind == "mfa" and item.refresh_token
    item.update(actions=[AuthSessionModel.expires_at.set(timedelta(seconds=-1))])
    assert api.call("POST", "/v1/auth/login/2fa", {"session": session, "code": code}).status_code == 401

    # When the user logs out everywhere while a login waits for its code, Then that login cannot complete
    session = password_login(api, email)["session"]
    assert api.call("POST", "/v1/auth/logout", token=token).status_code == 204
    assert api.call("POST", "/v1/auth/login/2fa", {"session": session, "code": code}).status_code == 401

    # And a malformed request is a validation problem, not a login attempt
    missing = api.call("POST", "/v1/auth/login/2fa", {"session": session})
    assert missing.status_code == 422
    assert [e["field"] for e in body(missing)["errors"]] == ["code"]


def test_enable_needs_a_setup_and_disable_needs_2fa_on(api: Api) -> None:
    # Given a user who never started the set-up
    token = register_user(api, "ned@example.com")["accessToken"]
    # Then verify and disable are conflicts, and every 2FA route needs a token
    assert api.call("POST", "/v1/auth/2fa/verify", {"code": "123456"}, token=token).status_code == 409
    assert api.call("DELETE", "/v1/auth/2fa", {"code": "123456"}, token=token).status_code == 409
    assert api.call("POST", "/v1/auth/2fa/setup").status_code == 401
    assert api.call("POST", "/v1/auth/2fa/verify", {"code": "123456"}).status_code == 401
    assert api.call("DELETE", "/v1/auth/2fa", {"code": "123456"}).status_code == 401

    # When set-up runs twice, Then only the latest secret enables 2FA
    older = body(api.call("POST", "/v1/auth/2fa/setup", token=token))["data"]["secret"]
    newer = body(api.call("POST", "/v1/auth/2fa/setup", token=token))["data"]["secret"]
    assert older != newer
    step = fresh_step()
    if totp.code_at(older, step) != totp.code_at(newer, step):
        stale = api.call("POST", "/v1/auth/2fa/verify", {"code": totp.code_at(older, step)}, token=token)
        assert stale.status_code == 422
    assert api.call("POST", "/v1/auth/2fa/verify", {"code": totp.code_at(newer, step)}, token=token).status_code == 200


def test_recovery_from_an_enrolment_by_someone_else(api: Api) -> None:
    # Given an attacker with a stolen access token who turns 2FA on with their own authenticator
    login = register_user(api, "victim2fa@example.com")
    enrol(api, login["accessToken"])
    # Then the owner is told by email
    mails = body(api.call("GET", "/_local/outbox?to=victim2fa@example.com"))["data"]
    assert any("Two-factor authentication was turned on" in m["subject"] for m in mails)
    # When the owner resets the password (proving control of the email)
    api.call("POST", "/v1/auth/forgot-password", {"email": "victim2fa@example.com"})
    mails = body(api.call("GET", "/_local/outbox?to=victim2fa@example.com"))["data"]
    code = [m for m in mails if "reset" in m["subject"].lower()][-1]["code"]
    reset = api.call(
        "POST",
        "/v1/auth/reset-password",
        {"email": "victim2fa@example.com", "code": code, "newPassword": "Rec0vered-Pass"},
    )
    assert reset.status_code == 204
    # Then 2FA is off, the attacker's token is dead, and the owner logs in with the password alone
    assert api.call("GET", "/v1/me", token=login["accessToken"]).status_code == 401
    again = body(api.call("POST", "/v1/auth/login", {"email": "victim2fa@example.com", "password": "Rec0vered-Pass"}))
    assert "accessToken" in again["data"] and again["data"]["user"]["twoFactorEnabled"] is False


def test_an_admin_can_clear_2fa(api: Api) -> None:
    login = register_user(api, "locked2fa@example.com")
    enrol(api, login["accessToken"])
    create_admin()
    admin = body(api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}))
    cleared = api.call("DELETE", f"/v1/users/{login['user']['id']}/2fa", token=admin["data"]["accessToken"])
    assert cleared.status_code == 200 and body(cleared)["data"]["twoFactorEnabled"] is False
    direct = body(api.call("POST", "/v1/auth/login", {"email": "locked2fa@example.com", "password": PASSWORD}))
    assert "accessToken" in direct["data"]


def test_an_admin_cannot_reset_their_own_2fa_without_a_code(api: Api) -> None:
    # Given an admin with 2FA on (and a user with 2FA on)
    create_admin("self2fa-admin@example.com", "Adm1nPassw0rd")
    admin = body(
        api.call("POST", "/v1/auth/login", {"email": "self2fa-admin@example.com", "password": "Adm1nPassw0rd"})
    )
    token, admin_id = admin["data"]["accessToken"], admin["data"]["user"]["id"]
    secret, step = enrol(api, token)
    user = register_user(api, "other2fa@example.com")
    enrol(api, user["accessToken"])
    # When the admin uses the account-recovery route on themselves, Then it is refused, pointing to the code route
    refused = api.call("DELETE", f"/v1/users/{admin_id}/2fa", token=token)
    assert refused.status_code == 403, refused.body
    assert "DELETE /v1/auth/2fa" in body(refused)["detail"]
    # and their 2FA is still on, and their session still valid (nothing was revoked)
    me = api.call("GET", "/v1/me", token=token)
    assert me.status_code == 200 and body(me)["data"]["twoFactorEnabled"] is True
    # While the admin can still reset another user's 2FA
    cleared = api.call("DELETE", f"/v1/users/{user['user']['id']}/2fa", token=token)
    assert cleared.status_code == 200 and body(cleared)["data"]["twoFactorEnabled"] is False
    # And turn their own off the way every user does: with a current code
    off = api.call("DELETE", "/v1/auth/2fa", {"code": totp.code_at(secret, step)}, token=token)
    assert off.status_code == 200 and body(off)["data"] == {"twoFactorEnabled": False}


# ------------------------------------------------------------------------------ secrets at rest
def raw_item(model: Any, key: str) -> dict[str, Any]:
    """The item exactly as DynamoDB holds it (what a backup, an export or a stray GetItem would show)."""
    from gridshare.kernel.aws import client

    answer = client("dynamodb").get_item(TableName=model.Meta.table_name, Key={"id": {"S": key}}, ConsistentRead=True)
    return dict(answer["Item"])


def test_totp_secrets_and_held_back_refresh_tokens_are_sealed_at_rest(api: Api) -> None:
    from gridshare.identity.models import AuthSessionModel, UserModel
    from gridshare.identity.sessions import secret_hash
    from gridshare.kernel.envelope import VERSION

    # Given a user who starts the 2FA set-up
    email = "sealed@example.com"
    first = register_user(api, email)
    token, user_id = first["accessToken"], first["user"]["id"]
    setup = api.call("POST", "/v1/auth/2fa/setup", token=token)
    assert setup.status_code == 200, setup.body
    secret = body(setup)["data"]["secret"]
    # Then the users table holds the pending secret sealed, and the secret appears nowhere in the item
    pending = raw_item(UserModel, user_id)
    assert pending["totp_pending_secret"]["S"].startswith(f"{VERSION}.")
    assert secret not in json.dumps(pending) and secret.lower() not in json.dumps(pending).lower()

    # When they enable it with a real code of the secret they were given
    step = fresh_step()
    enabled = api.call("POST", "/v1/auth/2fa/verify", {"code": totp.code_at(secret, step - 1)}, token=token)
    assert enabled.status_code == 200, enabled.body
    # Then the enabled secret is sealed too
    item = raw_item(UserModel, user_id)
    assert item["totp_secret"]["S"].startswith(f"{VERSION}.") and "totp_pending_secret" not in item
    assert secret not in json.dumps(item)

    # When they log in with the password, Then the pending login holds the refresh token sealed
    session = password_login(api, email)["session"]
    held = raw_item(AuthSessionModel, secret_hash(session))
    assert held["kind"]["S"] == "mfa" and held["refresh_token"]["S"].startswith(f"{VERSION}.")

    # And the login completes with a code, giving a refresh token that was never stored in the clear
    done = api.call("POST", "/v1/auth/login/2fa", {"session": session, "code": totp.code_at(secret, step)})
    assert done.status_code == 200, done.body
    tokens = body(done)["data"]
    assert tokens["refreshToken"] and tokens["refreshToken"] not in json.dumps(held)
    assert api.call("POST", "/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]}).status_code == 200
    assert api.call("GET", "/v1/me", token=tokens["accessToken"]).status_code == 200


def test_sealed_values_that_cannot_be_opened_count_as_none(api: Api) -> None:
    from gridshare.identity.models import AuthSessionModel, UserModel
    from gridshare.identity.sessions import secret_hash

    # Given a user with 2FA on and two logins waiting for a code
    email = "plain@example.com"
    first = register_user(api, email)
    token, user_id = first["accessToken"], first["user"]["id"]
    secret, step = enrol(api, token)
    code = totp.code_at(secret, step)
    session_a, session_b = password_login(api, email)["session"], password_login(api, email)["session"]

    # When login B's held-back token is swapped for login A's (sealed for another session)
    sealed_a = AuthSessionModel.get(secret_hash(session_a)).refresh_token
    AuthSessionModel.get(secret_hash(session_b)).update(actions=[AuthSessionModel.refresh_token.set(sealed_a)])
    swapped = api.call("POST", "/v1/auth/login/2fa", {"session": session_b, "code": code})
    # Then B is refused as an invalid session, not a 500, and is gone
    assert swapped.status_code == 401, swapped.body
    assert AuthSessionModel.count(secret_hash(session_b)) == 0

    # When the stored TOTP secret is plain text (as before sealing, or written by hand)
    UserModel.get(user_id).update(actions=[UserModel.totp_secret.set(secret)])
    # Then a code that would be right for it does not complete login A (fail closed: no secret)
    plain = api.call("POST", "/v1/auth/login/2fa", {"session": session_a, "code": code})
    assert plain.status_code == 401, plain.body
    assert AuthSessionModel.count(secret_hash(session_a)) == 0
    # And disabling is refused as "not enabled": no secret can be read to check the code against
    off = api.call("DELETE", "/v1/auth/2fa", {"code": totp.code_at(secret, step + 1)}, token=token)
    assert off.status_code == 409, off.body
