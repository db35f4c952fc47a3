"""The route guard takes the caller API Gateway's TOKEN authorizer verified (decision 0030), with the events
API Gateway sends: without the verifier when the authorizer's context is complete, refused once revoked or
expired, and verified in full when the context is missing, incomplete or contradicts itself."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gridshare.kernel import clock
from tests.support.api import Api, register_user
from tests.support.events import invocation_context, proxy_event


def _no_verifier(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the full token verification (gridshare.http.auth) record its calls and refuse every token."""
    import gridshare.http.auth

    calls: list[str] = []

    def refuse(token: str, *_args: Any) -> Any:
        from gridshare.kernel.errors import AuthenticationFailed

        calls.append(token)
        raise AuthenticationFailed("The token is not valid.")

    monkeypatch.setattr(gridshare.http.auth, "verify_access_token", refuse)
    return calls


def test_an_api_lambda_takes_the_caller_the_authorizer_verified(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.identity.lambda_app import app

    # Given a user's GET /v1/me as API Gateway sends it after the authorizer allowed the token
    login = register_user(api, "trusted@example.com", role="consumer")
    event = proxy_event("apigw_rest_proxy_get_me", login["accessToken"])
    assert event["requestContext"]["authorizer"]["principalId"] == login["user"]["id"]
    calls = _no_verifier(monkeypatch)

    # When the identity Lambda handles it
    response = app(event, invocation_context("identity-api"))

    # Then it answers for the authorizer's caller without verifying the token again
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["data"]["email"] == "trusted@example.com"
    assert calls == []

    # And without the authorizer's context (the same token) the token is verified in full
    bare = copy.deepcopy(event)
    del bare["requestContext"]["authorizer"]
    refused = app(bare, invocation_context("identity-api"))
    assert refused["statusCode"] == 401 and calls == [f"Bearer {login['accessToken']}"]


def test_the_authorizers_caller_is_refused_once_revoked_or_expired(api: Api) -> None:
    from functions.identity.lambda_app import app

    # Given the context the authorizer returned for a user's token (what a cached answer hands over)
    login = register_user(api, "cached@example.com")
    event = proxy_event("apigw_rest_proxy_get_me", login["accessToken"])
    assert app(copy.deepcopy(event), invocation_context("identity-api"))["statusCode"] == 200
    expires_at = int(event["requestContext"]["authorizer"]["exp"])

    # When the token's expiry (plus the leeway) has passed, Then the same context is refused
    with clock.frozen((expires_at + 6) * 1000):
        expired = app(copy.deepcopy(event), invocation_context("identity-api"))
    assert expired["statusCode"] == 401 and json.loads(expired["body"])["detail"] == "The token has expired."

    # When the user logs out (the revocation every guard reads), Then the same context is refused too
    assert api.call("POST", "/v1/auth/logout", token=login["accessToken"]).status_code == 204
    revoked = app(copy.deepcopy(event), invocation_context("identity-api"))
    assert revoked["statusCode"] == 401 and json.loads(revoked["body"])["detail"] == "The token has been revoked."


@pytest.mark.parametrize(
    "change",
    [
        {"exp": None},  # an authorizer that does not return the expiry
        {"principalId": "someone-else"},
        {"role": "admin"},  # not the role of the groups
        {"groups": "admin", "role": "superuser"},
        {"iat": "soon"},
        {"userId": None},
        {"jti": 7},
    ],
)
def test_an_incomplete_authorizer_context_means_full_verification(
    api: Api, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any]
) -> None:
    from functions.identity.lambda_app import app

    # Given API Gateway's event for a genuine token whose authorizer context lacks or contradicts something
    login = register_user(api, "partial@example.com")
    event = proxy_event("apigw_rest_proxy_get_me", login["accessToken"])
    for key, value in change.items():
        if value is None:
            del event["requestContext"]["authorizer"][key]
        else:
            event["requestContext"]["authorizer"][key] = value
    calls = _no_verifier(monkeypatch)

    # When the identity Lambda handles it, Then the token is verified in full (here: refused)
    response = app(event, invocation_context("identity-api"))
    assert response["statusCode"] == 401 and len(calls) == 1
    monkeypatch.undo()
    assert app(event, invocation_context("identity-api"))["statusCode"] == 200  # the real verifier accepts it
