"""Fixtures for tests against moto in-process (tests/integration, tests/local): mock_aws, resources made
by the local stack's provisioning, and the whole API through Chalice's test client (which runs our route
guard, not API Gateway's)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import moto.cognitoidp
import pytest
from chalice.test import Client
from moto import mock_aws

from tests.support.api import Api


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


@pytest.fixture(autouse=True)
def cursor_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh cursor-signing key for every test (GS_CURSOR_SECRET): the code has no default, and no test
    may pass only because some key happens to be shared."""
    from gridshare.kernel.settings import reset_settings

    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv("GS_CURSOR_SECRET", secret)
    reset_settings()
    yield secret
    reset_settings()


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cursor_secret: str) -> Iterator[dict[str, str]]:
    from gridshare_local.pki import LocalCA
    from gridshare_local.provision import provision

    with mock_aws():
        _reset_caches()
        ca = LocalCA.ensure(tmp_path / "ca")
        provisioned = provision(
            "us-east-1",
            email_sender="no-reply@gridshare.local",
            ca_cert_pem=ca.ca_cert_pem,
            cursor_secret=cursor_secret,
        )
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


@pytest.fixture
def api(aws: dict[str, str]) -> Iterator[Api]:
    from gridshare.app_factory import make_app
    from gridshare_local import outbox

    app = make_app("gridshare-test")
    app.register_blueprint(outbox.api.build())
    with Client(app) as client:
        yield Api(client)
