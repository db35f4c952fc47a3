"""boto3 clients, one per service per container, created on first use (never at import time)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


@cache
def client(service: str) -> Any:
    """A boto3 client; AWS_ENDPOINT_URL (set by the local stack) sends it to moto."""
    return boto3.client(service, config=_CONFIG)


def reset_clients() -> None:
    client.cache_clear()
