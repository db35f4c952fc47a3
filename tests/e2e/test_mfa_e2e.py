"""TOTP 2FA through the running local stack, as a mobile app calls it, with real RFC 6238 codes.

The app computes codes from the secret the set-up returned, as an authenticator app would. The server
accepts the previous, current and next 30 s step; the journey uses steps s-1 (enable), s (login) and
s+1 (disable), s being the step when it starts, so all three stay valid for at least 30 s.

The stack is shared by every e2e test and counts failed logins and codes per IP (127.0.0.1 here), so this
journey keeps its deliberate failures to two.
"""

from __future__ import annotations

import pytest

from gridshare.identity import totp
from tests.e2e.conftest import Stack
from tests.support.totp import fresh_step

pytestmark = pytest.mark.e2e
PASSWORD = "Passw0rd!x"


def test_totp_two_factor_journey_as_a_mobile_app(stack: Stack) -> None:
    # Given a registered, verified, logged-in user
    email = "twofa-e2e@example.com"
    token = stack.register(email, password=PASSWORD)["accessToken"]

    # When the app starts the 2FA set-up, Then it gets a secret and an otpauth URI for authenticator apps
    setup = stack.call("POST", "/v1/auth/2fa/setup", token=token)
    assert setup.status_code == 200, setup.text
    secret, uri = setup.json()["data"]["secret"], setup.json()["data"]["otpauthUri"]
    assert uri.startswith("otpauth://totp/Gridshare:") and f"secret={secret}" in uri

    # When the user types the code their authenticator shows, Then 2FA is on
    step = fresh_step()
    enabled = stack.call("POST", "/v1/auth/2fa/verify", {"code": totp.code_at(secret, step - 1)}, token=token)
    assert enabled.status_code == 200, enabled.text
    assert enabled.json() == {"data": {"twoFactorEnabled": True}}
    assert stack.call("GET", "/v1/me", token=token).json()["data"]["twoFactorEnabled"] is True

    # When they log in again, Then the password alone gives a TOTP challenge, not tokens
    login = stack.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    challenge = login.json()["data"]
    assert challenge["challenge"] == "TOTP" and "accessToken" not in challenge

    # When the app sends the session with a real code generated from the setup secret
    code = totp.code_at(secret, step)
    done = stack.call("POST", "/v1/auth/login/2fa", {"session": challenge["session"], "code": code})
    # Then it gets the tokens of a normal login, and they work
    assert done.status_code == 200, done.text
    tokens = done.json()["data"]
    assert tokens["tokenType"] == "Bearer" and tokens["refreshToken"] and tokens["user"]["email"] == email
    me = stack.call("GET", "/v1/me", token=tokens["accessToken"])
    assert me.status_code == 200 and me.json()["data"]["twoFactorEnabled"] is True

    # When the same code is used again for another login, Then it is refused (deliberate failure 1 of 2)
    second = stack.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD}).json()["data"]
    reuse = stack.call("POST", "/v1/auth/login/2fa", {"session": second["session"], "code": code})
    assert reuse.status_code == 401, reuse.text
    assert reuse.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in reuse.json()["errors"]] == ["code"]

    # When the user turns 2FA off with a used code, Then it stays on (deliberate failure 2 of 2)
    token = tokens["accessToken"]
    refused = stack.call("DELETE", "/v1/auth/2fa", {"code": code}, token=token)
    assert refused.status_code == 422, refused.text

    # When they turn it off with the next code of their app, Then it is off
    off = stack.call("DELETE", "/v1/auth/2fa", {"code": totp.code_at(secret, step + 1)}, token=token)
    assert off.status_code == 200, off.text
    assert off.json() == {"data": {"twoFactorEnabled": False}}

    # And the password gives tokens directly again
    direct = stack.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD})
    assert direct.status_code == 200 and "accessToken" in direct.json()["data"]
    assert direct.json()["data"]["user"]["twoFactorEnabled"] is False
