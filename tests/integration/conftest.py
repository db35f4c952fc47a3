"""Integration fixtures: moto in-process (mock_aws), resources made by the local stack's provisioning,
and the whole API through Chalice's test client (which runs our route guard, not API Gateway's)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moto.cognitoidp
import pytest
from chalice.test import Client
from moto import mock_aws


def _reset_caches() -> None:
    from gridshare.contexts import all_tables
    from gridshare.kernel.aws import reset_clients
    from gridshare.kernel.factory import reset_services
    from gridshare.kernel.settings import reset_settings

    reset_settings()
    reset_clients()
    reset_services()
    for model in all_tables():
        model._connection = None  # PynamoDB caches a botocore client per model


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from gridshare_local.pki import LocalCA
    from gridshare_local.provision import provision

    with mock_aws():
        _reset_caches()
        ca = LocalCA.ensure(tmp_path / "ca")
        provisioned = provision("us-east-1", email_sender="no-reply@gridshare.local", ca_cert_pem=ca.ca_cert_pem)
        jwks = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-public.json.gz"
        env = {
            **provisioned.env,
            "GS_JWKS_URL": f"file://{jwks}",
            "GS_CERT_ISSUER": "local",
            "GS_LOCAL_CA_DIR": str(tmp_path / "ca"),
            "GS_MQTT_HOST": "127.0.0.1",
            "GS_MQTT_PORT": "8883",
            "GS_LOCAL_STACK": "true",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _reset_caches()
        env["queue_urls"] = json.dumps(provisioned.queue_urls)
        yield env
    _reset_caches()


@dataclass
class Api:
    client: Client

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        all_headers = {"Content-Type": "application/json"}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        data = body if isinstance(body, str) or body is None else json.dumps(body)
        return getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)


@pytest.fixture
def api(aws: dict[str, str]) -> Iterator[Api]:
    from gridshare.app_factory import make_app
    from gridshare_local import outbox

    app = make_app("gridshare-test")
    app.register_blueprint(outbox.api.build())
    with Client(app) as client:
        yield Api(client)


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


os.environ.setdefault("GS_CURSOR_SECRET", "test-cursor-secret")
