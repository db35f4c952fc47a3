"""Register, verify, log in and read the profile through the API, against moto."""

from __future__ import annotations

import json

import pytest

from tests.support.api import Api, register_user


def test_register_verify_login_me(api: Api) -> None:
    # Given a new user who registers
    response = api.call(
        "POST",
        "/v1/auth/register",
        {"email": "Ana@Example.com", "password": "Passw0rd!x", "name": "Ana", "role": "prosumer"},
    )
    assert response.status_code == 201
    user = json.loads(response.body)["data"]
    assert user["email"] == "ana@example.com" and user["status"] == "pending" and user["role"] == "prosumer"

    # When they log in before verifying, they are told to verify
    early = api.call("POST", "/v1/auth/login", {"email": "ana@example.com", "password": "Passw0rd!x"})
    assert early.status_code == 403

    # And a wrong code is refused with a problem naming the field
    wrong = api.call("POST", "/v1/auth/verify-email", {"email": "ana@example.com", "code": "000000"})
    outbox = json.loads(api.call("GET", "/_local/outbox?to=ana@example.com").body)["data"]
    code = outbox[0]["code"]
    if code != "000000":
        assert wrong.status_code == 422
        assert json.loads(wrong.body)["errors"][0]["field"] == "code"
        assert wrong.headers["Content-Type"] == "application/problem+json"

    # Then the emailed code verifies the address and login returns tokens
    assert api.call("POST", "/v1/auth/verify-email", {"email": "ana@example.com", "code": code}).status_code == 200
    login = json.loads(api.call("POST", "/v1/auth/login", {"email": "ana@example.com", "password": "Passw0rd!x"}).body)
    data = login["data"]
    assert {"accessToken", "refreshToken", "expiresIn", "user"} <= data.keys()
    assert data["user"]["id"] == user["id"]

    me = api.call("GET", "/v1/me", token=data["accessToken"])
    assert me.status_code == 200
    assert json.loads(me.body)["data"]["email"] == "ana@example.com"


def test_a_verification_code_is_single_use_and_attempts_are_limited(api: Api) -> None:
    api.call(
        "POST",
        "/v1/auth/register",
        {"email": "bo@example.com", "password": "Passw0rd!x", "name": "Bo", "role": "consumer"},
    )
    code = json.loads(api.call("GET", "/_local/outbox?to=bo@example.com").body)["data"][0]["code"]
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(5):
        assert api.call("POST", "/v1/auth/verify-email", {"email": "bo@example.com", "code": wrong}).status_code == 422
    # After five wrong attempts even the right code is refused: guessing a 6-digit code is not an option
    assert api.call("POST", "/v1/auth/verify-email", {"email": "bo@example.com", "code": code}).status_code == 422


def test_registration_refuses_admin_and_bad_input(api: Api) -> None:
    response = api.call(
        "POST", "/v1/auth/register", {"email": "x@example.com", "password": "Passw0rd!x", "name": "X", "role": "admin"}
    )
    assert response.status_code == 422
    assert [e["field"] for e in json.loads(response.body)["errors"]] == ["role"]
    malformed = api.call("POST", "/v1/auth/register", "{not json")
    assert malformed.status_code == 400
    weak = api.call(
        "POST", "/v1/auth/register", {"email": "w@example.com", "password": "password", "name": "W", "role": "consumer"}
    )
    assert weak.status_code == 422
    problem = json.loads(weak.body)
    assert problem["errors"] == [{"field": "password", "message": "no uppercase letter; no number"}]
    assert "at least 8 characters, with an uppercase letter, a lowercase letter and a number" in problem["detail"]


def test_an_admin_with_a_weak_password_is_refused_naming_the_policy_and_leaves_no_user(api: Api) -> None:
    from gridshare.identity.service import identity_service
    from gridshare.kernel import errors
    from gridshare.kernel.aws import client
    from gridshare.kernel.settings import get_settings

    pool = get_settings().user_pool_id
    before = len(client("cognito-idp").list_users(UserPoolId=pool)["Users"])
    with pytest.raises(errors.InvalidInput) as refused:
        identity_service().create_admin("weak-admin@example.com", "weak", "Weak")
    assert "password policy: at least 8 characters" in refused.value.detail
    assert refused.value.errors[0].message == "only 4 characters; no uppercase letter; no number"
    assert len(client("cognito-idp").list_users(UserPoolId=pool)["Users"]) == before
    # and the email is free for a second try with a good password
    assert identity_service().create_admin("weak-admin@example.com", "G00d-Passw0rd", "Weak")["role"] == "admin"


def test_duplicate_email_conflicts(api: Api) -> None:
    register_user(api, "dup@example.com")
    again = api.call(
        "POST",
        "/v1/auth/register",
        {"email": "DUP@example.com", "password": "Passw0rd!x", "name": "D", "role": "consumer"},
    )
    assert again.status_code == 409


def test_wrong_password_and_unknown_email_look_the_same(api: Api) -> None:
    register_user(api, "same@example.com")
    wrong = api.call("POST", "/v1/auth/login", {"email": "same@example.com", "password": "Wr0ngPassword"})
    unknown = api.call("POST", "/v1/auth/login", {"email": "nobody@example.com", "password": "Wr0ngPassword"})
    assert wrong.status_code == unknown.status_code == 401
    assert json.loads(wrong.body)["detail"] == json.loads(unknown.body)["detail"]


def test_framework_errors_are_problems_too(api: Api) -> None:
    wrong_method = api.client.http.request("DELETE", "/v1/auth/login", headers={"Content-Type": "application/json"})
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Content-Type"] == "application/problem+json"
    assert json.loads(wrong_method.body)["status"] == 405
    wrong_type = api.call("POST", "/v1/auth/login", "email=x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert json.loads(wrong_type.body)["type"].endswith("/unsupported-media-type")
    assert wrong_type.headers["X-Content-Type-Options"] == "nosniff"
