"""AWS clients: one botocore session per process, one client per service, created on first use.

botocore reads its endpoint and service data once per session (60-100 ms). PynamoDB opens a new session
for every model's connection, so a Lambda touching eight tables paid that eight times on a cold start and
a test provisioning thirty tables paid it thirty times. Every client here, and every PynamoDB connection
(`share_session_with_pynamodb`), comes from one shared session instead. botocore's client creation is not
thread-safe, so it runs under a lock; the clients themselves are thread-safe.

PynamoDB also creates one botocore client per model's connection (~3 ms of CPU each after the process's
first, ~50 ms): a function whose first answer reads five tables created five. Its connections get the shared
session through `PynamoDBSession`, which hands connections asking for the same client (service, region,
endpoint and client settings: PynamoDB's, the same for every model that sets none of its own) the one
created first (decision 0029). A client whose credentials are missing is never handed out again (PynamoDB
replaces such a client: botocore would otherwise keep the empty credentials).

The clients are botocore's, not boto3's: boto3 adds resources and S3's transfer methods, which nothing here
uses, and importing it cost every function ~75 M instructions (~7 % of the floor) of its cold start. And
DynamoDB has one client per process: `client("dynamodb")` (the ledger's, the telemetry stores') is the
one PynamoDB's connections share, with `gridshare.kernel.tables.CONNECTION_SETTINGS`, so a function that
reads a model and writes through the low-level client creates one DynamoDB client, not two.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)
_CREATE_LOCK = threading.Lock()


class PlainJSONFileLoader(botocore.loaders.JSONFileLoader):  # type: ignore[misc]  # botocore has no types
    """botocore's data files read into plain dicts, not OrderedDicts (which botocore asks the JSON decoder
    for: since Python 3.7 a dict keeps its keys' order too). Decoding with an `object_pairs_hook` builds every
    object through Python calls; without one the decoder builds dicts in C, in about half the time: S3's
    model and endpoint rules, 3.1 and 1.9 ms -> 1.5 and 0.8 ms."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as handle:
            return json.loads(handle.read())


@cache
def botocore_session() -> botocore.session.Session:
    """The process's botocore session; `create_client` on it is serialized, and its loader reads botocore's
    data files with `PlainJSONFileLoader`."""
    session = botocore.session.get_session()
    session.get_component("data_loader").file_loader = PlainJSONFileLoader()
    create_client = session.create_client

    def locked_create_client(*args: Any, **kwargs: Any) -> Any:
        with _CREATE_LOCK:
            return create_client(*args, **kwargs)

    session.create_client = locked_create_client
    return session


class PynamoDBSession:
    """The shared session as PynamoDB's connections use it: one client per distinct set of arguments."""

    def __init__(self, session: botocore.session.Session) -> None:
        self._session = session
        self._clients: dict[tuple[Any, ...], Any] = {}

    def create_client(self, service_name: str, region_name: str | None = None, **kwargs: Any) -> Any:
        config = kwargs.get("config")
        options = getattr(config, "_user_provided_options", {}) if config is not None else {}
        key = (
            service_name,
            region_name,
            tuple(sorted((k, repr(v)) for k, v in kwargs.items() if k != "config")),
            tuple(sorted((k, repr(v)) for k, v in options.items())),
        )
        found = self._clients.get(key)
        if found is None or not _has_credentials(found):
            found = self._clients[key] = self._session.create_client(service_name, region_name, **kwargs)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _has_credentials(client: Any) -> bool:
    signer = getattr(client, "_request_signer", None)
    return signer is None or bool(signer._credentials)


@cache
def pynamodb_session() -> PynamoDBSession:
    """What PynamoDB's connections get as their botocore session."""
    return PynamoDBSession(botocore_session())


def share_session_with_pynamodb() -> None:
    """Make PynamoDB's connections create their clients from the shared session, one per distinct setting."""
    import pynamodb.connection.base as pynamodb_base

    pynamodb_base.get_session = pynamodb_session  # type: ignore[attr-defined]


@cache
def client(service: str) -> Any:
    """A client of the shared session; AWS_ENDPOINT_URL (set by the local stack) sends it to moto.
    DynamoDB's is the client PynamoDB's connections use (one per process)."""
    if service == "dynamodb":
        return _dynamodb_client()
    return botocore_session().create_client(service, config=_CONFIG)


def _dynamodb_client() -> Any:
    from pynamodb.connection import Connection

    from gridshare.kernel.tables import CONNECTION_SETTINGS, table_region

    share_session_with_pynamodb()
    return Connection(region=table_region(), **CONNECTION_SETTINGS).client


def new_client(service: str, **kwargs: Any) -> Any:
    """An uncached client from the shared session (about 2 ms instead of 70-100 ms for a new session):
    for the local stack and tools that pass their own region or endpoint."""
    return botocore_session().create_client(service, **kwargs)


def reset_clients() -> None:
    """Forget every client: the next `client()` and the next PynamoDB connection create new ones."""
    client.cache_clear()
    pynamodb_session.cache_clear()
