"""Table naming and the PynamoDB set-up every context's models share.

Physical names come from `GS_TABLE_<LOGICAL>` (set by CDK on each function) or default to
`gridshare-<logical>`. A model's `Meta` derives from `TableMeta`, so its `table_name` and `region` are read
from the environment each time PynamoDB asks, never at import: the local stack and the tests may set the
environment after the models are imported, and PynamoDB reconnects when the name changes. Importing this
module points PynamoDB at the process's shared botocore session.
"""

from __future__ import annotations

import os
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from gridshare.kernel.aws import share_session_with_pynamodb

share_session_with_pynamodb()


def table_name(logical: str) -> str:
    return os.environ.get(f"GS_TABLE_{logical.upper()}", f"gridshare-{logical.replace('_', '-')}")


def table_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class _EnvironmentNames(type):
    """Metaclass of `TableMeta`: the physical name and region as class properties, read when used."""

    logical_name: str

    @property
    def table_name(cls) -> str:
        return table_name(cls.logical_name)

    @property
    def region(cls) -> str:
        return table_region()


CONNECTION_SETTINGS: dict[str, Any] = {
    "connect_timeout_seconds": 3,
    "read_timeout_seconds": 10,
    "max_retry_attempts": 4,
}
"""Every model's connection settings, and those of the process's low-level DynamoDB client
(`gridshare.kernel.aws.client("dynamodb")`), which is therefore the same client: fail fast on a stalled
connection (3 s) or response (10 s; DynamoDB answers in milliseconds) and retry, in botocore's standard mode,
up to five attempts in all."""


class TableMeta(metaclass=_EnvironmentNames):
    """Base of every model's `Meta`: set `logical_name`; the name and region come from the environment;
    the connection settings are `CONNECTION_SETTINGS`."""

    logical_name: str
    connect_timeout_seconds: int = CONNECTION_SETTINGS["connect_timeout_seconds"]
    read_timeout_seconds: int = CONNECTION_SETTINGS["read_timeout_seconds"]
    max_retry_attempts: int = CONNECTION_SETTINGS["max_retry_attempts"]


def logical_name(model: type[Model]) -> str:
    name: str = model.Meta.logical_name  # type: ignore[attr-defined]
    return name


def ttl_attribute(model: type[Model]) -> str | None:
    """The model's TTL attribute (DynamoDB expires items by it), if it has one."""
    attributes: dict[str, Any] = model.get_attributes()
    for name, attribute in attributes.items():
        if isinstance(attribute, TTLAttribute):
            return attribute.attr_name or name
    return None


def failed_condition(exc: PynamoDBException) -> bool:
    """Whether a conditional write was refused by its condition (the item exists, or moved on)."""
    return exc.cause_response_code == "ConditionalCheckFailedException"
