"""Table naming and the PynamoDB set-up every context's models share.

Physical names come from `GS_TABLE_<LOGICAL>` (set by CDK on each function) or default to
`gridshare-<logical>`, read when a models module is imported (the local stack and the tests set the
environment first). Importing this module points PynamoDB at the process's shared botocore session.
"""

from __future__ import annotations

import os
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from gridshare.kernel.aws import share_session_with_pynamodb

share_session_with_pynamodb()


def table_name(logical: str) -> str:
    return os.environ.get(f"GS_TABLE_{logical.upper()}", f"gridshare-{logical.replace('_', '-')}")


def table_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


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
