"""Fixtures for tests against moto in-process (tests/integration, tests/local): mock_aws, resources made
by the local stack's provisioning, and the whole API through Chalice's test client (which runs our route
guard, not API Gateway's).

The stack is provisioned once per worker (`_stack_template`, session scope: ~1.3 s of tables, queues, a
Cognito pool, IoT rules, ... on moto) and its moto backends are kept as a deep copy. Every test that asks for
`aws` starts its own `mock_aws()` (which resets moto, as before) and gets a fresh copy of those backends:
the same resources, no items, users, messages, things or shadows left by another test, and whatever a test
deletes or reconfigures (a table, a queue's attributes) is back for the next one. `fresh_aws` provisions a
stack of its own for a test that needs one (see docs/testing.md).
"""

from __future__ import annotations

import copy
import functools
import json
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moto.cognitoidp
import moto.core.responses
import moto.core.utils
import pytest
from chalice.test import Client
from moto import mock_aws
from moto.core.base_backend import BackendDict

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


# moto looks up the method names of a response class (inspect.getmembers) on every request it serves, ~0.3 ms
# each; they are fixed once the class exists, so each class's are computed once per process.
moto.core.responses.method_names_from_class = functools.cache(moto.core.utils.method_names_from_class)


# ------------------------------------------------------------------------ moto backends: copy and restore
# A moto backend is a plain object graph; a few hold a lock or a condition (SQS queues: long polling), and a
# new one is as good as a copy. A Condition must be made anew, not copied: it keeps its lock's bound methods,
# which deepcopy shares with the original, so a copy would wait and notify on the original's lock.
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()), threading.Condition)


@contextmanager
def _copyable_locks() -> Iterator[None]:
    dispatch: dict[type, Any] = copy._deepcopy_dispatch  # type: ignore[attr-defined]
    saved = {t: dispatch.get(t) for t in _LOCK_TYPES}
    for lock_type in _LOCK_TYPES:
        dispatch[lock_type] = lambda lock, memo, lock_type=lock_type: lock_type()
    try:
        yield
    finally:
        for lock_type, previous in saved.items():
            if previous is None:
                dispatch.pop(lock_type, None)
            else:
                dispatch[lock_type] = previous


# (the service's BackendDict, account, region, a copy of the backend as provisioned)
Snapshot = list[tuple[BackendDict[Any], str, str, Any]]


def snapshot_backends() -> Snapshot:
    """A deep copy of every moto backend in use (call inside mock_aws, before it stops and resets them)."""
    live = [
        (backends, account, region, backend)
        for backends in list(BackendDict._instances)  # type: ignore[misc]
        for account, per_account in dict.items(backends)
        for region, backend in dict.items(per_account)
    ]
    with _copyable_locks():
        copies = copy.deepcopy([backend for *_, backend in live])
    return [(backends, account, region, c) for (backends, account, region, _), c in zip(live, copies, strict=True)]


def restore_backends(snapshot: Snapshot) -> None:
    """Put a fresh copy of `snapshot` in place of moto's backends (just after mock_aws started and reset)."""
    with _copyable_locks():
        copies = copy.deepcopy([backend for *_, backend in snapshot])
    for (backends, account, region, _), backend in zip(snapshot, copies, strict=True):
        dict.__setitem__(backends[account], region, backend)  # backends[account] registers the service


# ---------------------------------------------------------------------------------------- the stack
@dataclass(frozen=True)
class _Provisioned:
    env: dict[str, str]
    queue_urls: dict[str, str]
    ca_dir: Path


def _provision(ca_dir: Path, cursor_secret: str) -> _Provisioned:
    """Provision the local stack's resources in the running mock_aws (as `gridshare up` does)."""
    from gridshare_local.pki import LocalCA
    from gridshare_local.provision import provision

    _reset_caches()
    ca = LocalCA.ensure(ca_dir)
    provisioned = provision(
        "us-east-1",
        email_sender="no-reply@gridshare.local",
        ca_cert_pem=ca.ca_cert_pem,
        cursor_secret=cursor_secret,
    )
    return _Provisioned(dict(provisioned.env), dict(provisioned.queue_urls), ca_dir)


def _share_session_with_boto3() -> None:
    """Let a test's own `boto3.client(...)` use the code's shared botocore session (gridshare.kernel.aws):
    mock_aws empties boto3's default session, so each test's first `boto3.client` otherwise built a session
    and read the service's model files again (~0.1 s a test). The mock puts the default back when it ends."""
    import boto3

    boto3.DEFAULT_SESSION = _boto3_session()


@functools.cache
def _boto3_session() -> Any:
    """One boto3 session over the shared botocore session for the whole process: each boto3 session
    registers its handlers (S3's transfer methods) on the botocore session it wraps, and a second set would
    inject those methods twice."""
    import boto3.session

    from gridshare.kernel.aws import botocore_session

    return boto3.session.Session(botocore_session=botocore_session())


def _enter(stack: _Provisioned, ca_dir: Path, cursor_secret: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the process at `stack`: the environment every test sees (what CDK gives the functions)."""
    jwks = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-public.json.gz"
    env = {
        **stack.env,
        "GS_CURSOR_SECRET": cursor_secret,
        "GS_JWKS_URL": f"file://{jwks}",
        "GS_CERT_ISSUER": "local",
        "GS_LOCAL_CA_DIR": str(ca_dir),
        "GS_MQTT_HOST": "127.0.0.1",
        "GS_MQTT_PORT": "8883",
        "GS_LOCAL_STACK": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _reset_caches()
    _share_session_with_boto3()
    env["queue_urls"] = json.dumps(stack.queue_urls)
    return env


@dataclass(frozen=True)
class _Template:
    stack: _Provisioned
    backends: Snapshot


@pytest.fixture(scope="session")
def _stack_template(tmp_path_factory: pytest.TempPathFactory) -> _Template:
    """The stack provisioned once per worker, kept as copies of moto's backends (no mock stays active)."""
    with mock_aws():
        stack = _provision(tmp_path_factory.mktemp("stack") / "ca", secrets.token_urlsafe(32))
        backends = snapshot_backends()
    _reset_caches()
    return _Template(stack, backends)


@pytest.fixture
def aws(
    _stack_template: _Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cursor_secret: str
) -> Iterator[dict[str, str]]:
    """The provisioned stack on moto, as fresh as if provisioned for this test (a copy of the worker's
    template): yields the functions' environment, plus `queue_urls` (JSON: queue name -> URL)."""
    ca_dir = tmp_path / "ca"
    shutil.copytree(_stack_template.stack.ca_dir, ca_dir)  # the CA registered in IoT; tests may add to it
    with mock_aws():  # resets moto, then the template's resources come back
        restore_backends(_stack_template.backends)
        yield _enter(_stack_template.stack, ca_dir, cursor_secret, monkeypatch)
    _reset_caches()


@pytest.fixture
def fresh_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cursor_secret: str) -> Iterator[dict[str, str]]:
    """Like `aws`, but provisioned from scratch for this test (new pool, key and CA ids; ~1.3 s): for a test
    about provisioning itself. Do not combine with `aws`/`api` (use `fresh_api`)."""
    with mock_aws():
        stack = _provision(tmp_path / "ca", cursor_secret)
        yield _enter(stack, stack.ca_dir, cursor_secret, monkeypatch)
    _reset_caches()


def _make_api() -> Any:
    from gridshare.app_factory import make_app
    from gridshare_local import outbox

    app = make_app("gridshare-test")
    app.register_blueprint(outbox.api.build())
    return app


@pytest.fixture
def api(aws: dict[str, str]) -> Iterator[Api]:
    with Client(_make_api()) as client:
        yield Api(client)


@pytest.fixture
def fresh_api(fresh_aws: dict[str, str]) -> Iterator[Api]:
    """`api` on a stack provisioned for this test alone (`fresh_aws`)."""
    with Client(_make_api()) as client:
        yield Api(client)


def empty_tables() -> None:
    """Remove every item of every DynamoDB table of the running mock (the tables stay, as provisioned): for a
    property test whose examples share one `aws` stack but must not see each other's items (moto's queries
    sort a whole table, so items left by earlier examples also make later ones slower)."""
    from moto.dynamodb.models import dynamodb_backends

    from gridshare_local.provision import ACCOUNT

    for table in dynamodb_backends[ACCOUNT]["us-east-1"].tables.values():
        table.items.clear()
