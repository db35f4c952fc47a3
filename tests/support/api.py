"""The API through Chalice's test client, and the sign-up steps most tests start from.

Every answer is checked against its route's declaration (tests.support.contract): a 2xx body against the
route's response model and the OpenAPI document, an error against the statuses the operation documents.
A test that sends what no client should (and wants the raw answer) passes `contract=False`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalice.test import Client

from tests.support import contract


@dataclass
class Api:
    client: Client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        contract: bool = True,
    ) -> Any:
        all_headers = {"Content-Type": "application/json"}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        data = body if isinstance(body, str) or body is None else json.dumps(body)
        response = getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)
        if contract:
            check_contract(method, path, response)
        return response


def check_contract(method: str, path: str, response: Any) -> None:
    """The answer is what the route declares (tests.support.contract); raises ContractViolation if not."""
    contract.check(method, path, response.status_code, response.headers, response.body)


def register_user(api: Api, email: str, role: str = "prosumer", password: str = "Passw0rd!x") -> dict[str, Any]:
    """Register, verify with the emailed code and log in: returns the login data."""
    response = api.call(
        "POST", "/v1/auth/register", {"email": email, "password": password, "name": email.split("@")[0], "role": role}
    )
    assert response.status_code == 201, response.body
    outbox = json.loads(api.call("GET", f"/_local/outbox?to={email}").body)["data"]
    code = outbox[-1]["code"]
    assert api.call("POST", "/v1/auth/verify-email", {"email": email, "code": code}).status_code == 200
    login = api.call("POST", "/v1/auth/login", {"email": email, "password": password})
    assert login.status_code == 200, login.body
    return json.loads(login.body)["data"]


def create_admin(email: str = "admin@example.com", password: str = "Adm1nPassw0rd") -> None:
    from gridshare.identity.service import identity_service

    identity_service().create_admin(email, password, "Admin")
