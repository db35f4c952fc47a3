"""Parser limits: a body too deep, too long or too large is a 400/413 problem on every route, signed in or not."""

from __future__ import annotations

import json

import pytest

from gridshare.http.api import MAX_BODY_BYTES, MAX_BODY_DEPTH, MAX_STRING_CHARS
from tests.support.api import Api, register_user


def nested(levels: int) -> str:
    return '{"email": ' + "[" * levels + "]" * levels + "}"


@pytest.fixture
def token(api: Api) -> str:
    return str(register_user(api, "limits@example.com")["accessToken"])


@pytest.mark.parametrize(
    ("method", "path", "signed_in"),
    [("POST", "/v1/auth/register", False), ("PATCH", "/v1/me", True), ("POST", "/v1/devices", True)],
)
def test_json_nested_a_thousand_levels_is_a_400_problem_not_a_500(
    api: Api, token: str, method: str, path: str, signed_in: bool
) -> None:
    for levels in (MAX_BODY_DEPTH + 1, 1_000, 100_000):
        response = api.call(method, path, nested(levels), token=token if signed_in else None)
        assert response.status_code == 400, (levels, response.body)
        problem = json.loads(response.body)
        assert problem["errors"][0]["message"] == f"nested deeper than {MAX_BODY_DEPTH} levels"


def test_a_string_over_the_limit_is_a_400_naming_the_field(api: Api, token: str) -> None:
    response = api.call("PATCH", "/v1/me", {"preferences": {"note": "x" * (MAX_STRING_CHARS + 1)}}, token=token)
    assert response.status_code == 400
    assert json.loads(response.body)["errors"][0]["field"] == "$.preferences.note"


def test_a_body_over_the_size_limit_is_a_413_problem(api: Api) -> None:
    response = api.call("POST", "/v1/auth/register", {"email": "a" * MAX_BODY_BYTES})
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_document_within_the_limits_still_reaches_validation(api: Api, token: str) -> None:
    ok = api.call("PATCH", "/v1/me", {"preferences": {"a": {"b": {"c": [1, 2, {"d": "e"}]}}}}, token=token)
    assert ok.status_code == 200, ok.body


def test_a_route_that_takes_a_body_refuses_an_empty_one(api: Api, token: str) -> None:
    response = api.call("PATCH", "/v1/me", None, token=token)
    assert response.status_code == 400
    assert json.loads(response.body)["errors"] == [{"field": "$", "message": "missing body"}]
