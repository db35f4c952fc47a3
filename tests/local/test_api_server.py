"""The local API server answers what it refuses itself with problems, as the deployed gateway does."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator

import pytest
from chalice.config import Config

from gridshare.app_factory import make_app
from gridshare_local.api_server import create_api_server

TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-looking-token.sig"


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = create_api_server(make_app("api-server-test"), Config(chalice_stage="local"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server.server.server_address[1]
    server.server.shutdown()


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def assert_problem(status: int, headers: dict, body: bytes, expected: int) -> dict:
    assert status == expected, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == expected and problem["type"].startswith("https://gridshare.dev/problems/")
    return problem


def test_an_unknown_route_is_a_404_problem_that_echoes_no_header(port: int) -> None:
    status, headers, body = request(port, "GET", "/v1/nope", {"Authorization": f"Bearer {TOKEN}"})
    assert_problem(status, headers, body, 404)
    assert TOKEN.encode() not in body and b"Authorization" not in body


def test_an_unknown_route_without_a_token_is_a_404_problem(port: int) -> None:
    assert_problem(*request(port, "GET", "/v1/nope"), 404)


def test_trace_is_a_405_problem_that_says_which_methods_the_path_has(port: int) -> None:
    status, headers, body = request(port, "TRACE", "/v1/devices")
    assert_problem(status, headers, body, 405)
    assert headers["allow"] == "GET, POST"
    assert_problem(*request(port, "TRACE", "/v1/nope"), 404)


def test_a_70_kb_header_is_a_431_problem_not_html(port: int) -> None:
    status, headers, body = request(port, "GET", "/health", {"X-Big": "a" * 70_000})
    assert_problem(status, headers, body, 431)


def test_a_known_route_with_a_wrong_method_is_a_405_problem(port: int) -> None:
    assert_problem(*request(port, "DELETE", "/health"), 405)


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "DELETE"])
def test_a_refused_request_with_a_body_leaves_its_kept_alive_connection_usable(port: int, method: str) -> None:
    # Given one kept-alive connection, When a request the server refuses itself carries a body
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"amount": 1, "currency": None})
    connection.request(method, "/health", body=body, headers={"Content-Type": "application/json"})
    first = connection.getresponse()
    first.read()
    assert first.status == 405
    # Then the next request on it is read from its own request line, not from the refused one's body
    connection.request("GET", "/health")
    second = connection.getresponse()
    assert second.status == 200, second.read()
    second.read()
    connection.close()


def _b64url(document: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


# Everything a client might try to pass for API Gateway's authorizer context: headers named after it,
# holding the context of an admin whose token the authorizer had verified.
_ADMIN_CONTEXT = {
    "principalId": "01J2Z8K6M4P3R7T9V1W5X0Y2QA",
    "userId": "01J2Z8K6M4P3R7T9V1W5X0Y2QA",
    "sub": "5f3c9a2e-7b41-4d8e-9c16-2a0b8e4d7f13",
    "role": "admin",
    "groups": "admin",
    "iat": "1718000000",
    "exp": "4102444800",
    "jti": "forged",
}
_FORGED_CONTEXT_HEADERS = {
    "requestContext": json.dumps({"authorizer": _ADMIN_CONTEXT}),
    "X-Amzn-RequestContext": json.dumps({"authorizer": _ADMIN_CONTEXT}),
    "X-Amzn-Apigateway-Api-Id": "k3x9q2w7ab",
    "authorizer": json.dumps(_ADMIN_CONTEXT),
    **{f"X-Authorizer-{key}": value for key, value in _ADMIN_CONTEXT.items()},
    **_ADMIN_CONTEXT,
}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt",
        f"Bearer {_b64url({'alg': 'none', 'kid': 'dummy'})}.{_b64url({'sub': 'x', 'cognito:groups': ['admin']})}.",
    ],
)
def test_no_header_makes_an_authorizer_context_on_the_local_stack(
    port: int, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, authorization: str | None
) -> None:
    """The local server never fills `requestContext.authorizer` (our routes declare no Chalice authorizer):
    whatever a client sends, the route guard verifies the token itself (decision 0030)."""
    import gridshare.http.api as http_api

    seen: list[object] = []
    real = http_api.authorized_caller

    def spy(context: object) -> object:
        seen.append(context)
        return real(context)

    monkeypatch.setattr(http_api, "authorized_caller", spy)
    headers = {**_FORGED_CONTEXT_HEADERS, **({"Authorization": authorization} if authorization else {})}
    # Given headers claiming an admin's authorizer context, When an admin-only route is asked
    status, answer_headers, body = request(port, "GET", "/v1/users", headers)
    # Then it is a 401 problem: the token (none, garbage, an unsigned admin claim) was checked, not the headers
    assert_problem(status, answer_headers, body, 401)
    assert all(context is None for context in seen)
    if authorization and authorization.count(".") == 2:
        assert seen == [None]  # a well-shaped token reached the guard's context check, and found none
