"""AWS clients: one botocore session per process, one client per service, created on first use.

botocore reads its endpoint and service data once per session (60-100 ms). PynamoDB opens a new session
for every model's connection, so a Lambda touching eight tables paid that eight times on a cold start and
a test provisioning thirty tables paid it thirty times. Every client here, and every PynamoDB connection
(`share_session_with_pynamodb`), comes from one shared session instead. botocore's client creation is not
thread-safe, so it runs under a lock; the clients themselves are thread-safe.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)
_CREATE_LOCK = threading.Lock()


@cache
def botocore_session() -> botocore.session.Session:
    """The process's botocore session; `create_client` on it is serialized."""
    session = botocore.session.get_session()
    create_client = session.create_client

    def locked_create_client(*args: Any, **kwargs: Any) -> Any:
        with _CREATE_LOCK:
            return create_client(*args, **kwargs)

    session.create_client = locked_create_client
    return session


def share_session_with_pynamodb() -> None:
    """Make PynamoDB's connections create their clients from the shared session."""
    import pynamodb.connection.base as pynamodb_base

    pynamodb_base.get_session = botocore_session  # type: ignore[attr-defined]


@cache
def _boto3_session() -> Any:
    import boto3.session

    return boto3.session.Session(botocore_session=botocore_session())


@cache
def client(service: str) -> Any:
    """A boto3 client; AWS_ENDPOINT_URL (set by the local stack) sends it to moto."""
    return _boto3_session().client(service, config=_CONFIG)


def new_client(service: str, **kwargs: Any) -> Any:
    """An uncached boto3 client from the shared session (about 2 ms instead of 70-100 ms for a new session):
    for the local stack and tools that pass their own region or endpoint."""
    return _boto3_session().client(service, **kwargs)


def reset_clients() -> None:
    client.cache_clear()
