"""DynamoDB tables built from the PynamoDB models, and least-privilege access to them.

The models in the context models (gridshare.contexts) are the one source of key schemas (DESIGN.md section 2): the
local stack creates its moto tables from the same classes, so the deployed schema cannot drift from the
one the tests run against. Nothing here names a key or an index by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum

from aws_cdk import RemovalPolicy, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from pynamodb.attributes import Attribute
from pynamodb.constants import BINARY, NUMBER, STRING
from pynamodb.indexes import GlobalSecondaryIndex, Index
from pynamodb.models import Model

from gridshare.kernel.tables import ttl_attribute
from infra_cdk import constants

# The only DynamoDB types a key may have; PynamoDB attribute classes declare theirs in `attr_type`
# (UnicodeAttribute -> S, NumberAttribute -> N, BinaryAttribute -> B).
_KEY_TYPES: dict[str, dynamodb.AttributeType] = {
    STRING: dynamodb.AttributeType.STRING,
    NUMBER: dynamodb.AttributeType.NUMBER,
    BINARY: dynamodb.AttributeType.BINARY,
}

_PROJECTIONS: dict[str, dynamodb.ProjectionType] = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


def logical_name(model: type[Model]) -> str:
    return str(model.Meta.logical_name)


def _key(owner: str, attribute: Attribute | None) -> dynamodb.Attribute | None:
    if attribute is None:
        return None
    key_type = _KEY_TYPES.get(attribute.attr_type)
    if key_type is None:
        raise TypeError(
            f"{owner}: key '{attribute.attr_name}' is a {type(attribute).__name__} "
            f"({attribute.attr_type}); DynamoDB keys must be S, N or B"
        )
    return dynamodb.Attribute(name=str(attribute.attr_name), type=key_type)


def _index_key(index: Index, *, hash_key: bool) -> Attribute | None:
    for attribute in index.Meta.attributes.values():
        if attribute.is_hash_key if hash_key else attribute.is_range_key:
            return attribute
    return None


def _add_index(table: dynamodb.Table, model: type[Model], index: Index) -> None:
    name = str(index.Meta.index_name)
    owner = f"{model.__name__}.{name}"
    if not isinstance(index, GlobalSecondaryIndex):
        # No model has a local index yet; LSIs must exist at table creation, so fail loudly rather than
        # deploy a table that can never get one.
        raise NotImplementedError(f"{owner}: local secondary indexes are not supported by infra_cdk yet")
    projection = index.Meta.projection
    partition_key = _key(owner, _index_key(index, hash_key=True))
    if partition_key is None:
        raise ValueError(f"{owner}: a global secondary index needs a hash key")
    non_key = getattr(projection, "non_key_attributes", None)
    table.add_global_secondary_index(
        index_name=name,
        partition_key=partition_key,
        sort_key=_key(owner, _index_key(index, hash_key=False)),
        projection_type=_PROJECTIONS[str(projection.projection_type)],
        non_key_attributes=list(non_key) if non_key else None,
    )


def table_from_model(scope: Construct, model: type[Model]) -> dynamodb.Table:
    """The production table of one PynamoDB model.

    On demand (traffic is bursty and small per table), point-in-time recovery on, TTL where
    the model has a TTLAttribute, and RETAIN: deleting the stack must never delete readings or the ledger.
    CloudFormation names the table; functions learn the name from GS_TABLE_<LOGICAL>.
    """
    name = logical_name(model)
    partition_key = _key(model.__name__, model._hash_key_attribute())
    if partition_key is None:
        raise ValueError(f"{model.__name__} has no hash key")
    table = dynamodb.Table(
        scope,
        f"{name.replace('_', '-')}-table",
        partition_key=partition_key,
        sort_key=_key(model.__name__, model._range_key_attribute()),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True,
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        time_to_live_attribute=ttl_attribute(model),
        removal_policy=RemovalPolicy.RETAIN,
    )
    for index in model._indexes.values():
        _add_index(table, model, index)
    Tags.of(table).add(constants.TABLE_TAG, name)
    return table


def tables_for(scope: Construct, models: Iterable[type[Model]]) -> dict[str, dynamodb.Table]:
    """One table per model, keyed by the model's logical name."""
    return {logical_name(model): table_from_model(scope, model) for model in models}


class Access(Enum):
    READ = "read"
    READ_WRITE = "read_write"
    # PutItem on the table itself and nothing else: an append-only log (security events) written by code
    # that must never read it back, overwrite it in bulk or delete from it.
    APPEND = "append"
    # Read, plus PutItem only: the owner of an append-only log, who reads it but may never change an entry.
    READ_APPEND = "read_append"


APPEND_ACTIONS = ("dynamodb:PutItem",)


def grant_table_access(
    function: lambda_.Function,
    tables: Mapping[str, dynamodb.Table],
    access: Mapping[type[Model], Access],
) -> None:
    """Give a function exactly the tables its code touches, and tell it their names.

    Each table gets CDK's read or read/write grant (scoped to the table and its indexes, never `*`);
    APPEND is PutItem on the table's own ARN only (READ_APPEND adds the read grant). The function also
    gets the GS_TABLE_<LOGICAL> variable gridshare.kernel.tables.table_name() reads. A table the
    function is not given here is neither granted nor named, so a model it was not meant to use fails
    loudly instead of quietly reaching a default-named table.
    """
    for model, level in access.items():
        name = logical_name(model)
        if name not in tables:
            raise KeyError(f"no table '{name}' was passed for {function.node.path}")
        table = tables[name]
        if level is Access.READ_WRITE:
            table.grant_read_write_data(function)
        elif level is Access.READ:
            table.grant_read_data(function)
        else:
            if level is Access.READ_APPEND:
                table.grant_read_data(function)
            # Tables use AWS-managed keys, so no KMS grant is needed (grant_write_data would add none either).
            function.add_to_role_policy(iam.PolicyStatement(actions=list(APPEND_ACTIONS), resources=[table.table_arn]))
        function.add_environment(constants.table_env_var(name), table.table_name)
