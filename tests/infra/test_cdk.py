"""The synthesized CDK app: what it must hold, what each function may touch, and that cfn-lint accepts it.

The app is synthesized once per test session (the `template` and `flagged` fixtures, tests/infra/conftest.py),
in-process and offline (no bundling, no network). Expectations come from the same sources of truth the app
reads (PynamoDB models, gridshare.kernel.resources, iot_rules/, the route table), so these tests catch a
construct that drifts from them, not a copy of them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gridshare.alerts.models import AlertModel, AlertRuleModel, AlertStateModel
from gridshare.app_factory import make_app
from gridshare.communities.models import CommunityModel, MemberModel
from gridshare.contexts import all_tables, table_owners
from gridshare.devices.dead_letters import DeviceDeadLetterModel
from gridshare.devices.models import (
    CertificateModel,
    CommandModel,
    DeviceModel,
    StatusChangeModel,
    StatusCountModel,
)
from gridshare.grid.models import GridConnectionModel, GridNodeModel
from gridshare.http.api import ROUTES, RouteSpec
from gridshare.http.idempotency import IdempotencyKeyModel
from gridshare.http.problems import PROBLEM_CONTENT_TYPE
from gridshare.http.revocations import TokenRevocationModel
from gridshare.identity.models import AuthSessionModel, RateLimitModel, SecurityEventModel, UserModel
from gridshare.kernel import resources
from gridshare.kernel.tables import table_name, ttl_attribute
from gridshare.ledger.models import LedgerAccountModel, LedgerEntryModel, LedgerTransactionModel
from gridshare.market.models import IntervalModel, OrderModel, TradeModel
from gridshare.notifications.models import (
    ConnectionModel,
    DeliveryModel,
    InboxModel,
    PreferencesModel,
    PushTokenModel,
    SubscriptionModel,
)
from gridshare.settlement.models import SettlementPostingModel, SettlementRunModel, SettlementShardModel
from gridshare.sites.models import InvestmentModel, SiteDeviceModel, SiteModel
from gridshare.telemetry.models import (
    ArchivedDayModel,
    DeadLetterModel,
    LatestReadingModel,
    RawReadingModel,
    RollupModel,
)
from gridshare.wallets.models import PaymentModel, RefundModel, StripeEventModel, WithdrawalModel
from infra_cdk import constants
from infra_cdk.stack import CORS_ORIGINS_ENV
from tests.infra.templates import META_KEYS, STACKS_KEY

REPO = Path(__file__).resolve().parents[2]
ALL_MODELS = all_tables()
OWNERS = table_owners()
TTL_ATTRIBUTES = {m.Meta.logical_name: a for m in ALL_MODELS if (a := ttl_attribute(m))}
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
IOT_DEVICE_ACTIONS = {"iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"}
THING_VARIABLE = "${iot:Connection.Thing.ThingName}"

Resources = dict[str, dict[str, Any]]


# ------------------------------------------------------------------------------------ template helpers
def of_type(template: dict[str, Any], cfn_type: str) -> Resources:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == cfn_type}


def render(value: Any) -> Any:
    """Flatten Fn::Join / Ref / GetAtt into readable strings: `${AWS::Region}`, `${Table.Arn}`."""
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(render(p)) for p in parts)
        if "Ref" in value:
            return "${" + value["Ref"] + "}"
        if "Fn::GetAtt" in value:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


def referenced_ids(value: Any) -> set[str]:
    """Logical ids a value points at through Ref or Fn::GetAtt, at any depth."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def table_ids(template: dict[str, Any]) -> dict[str, str]:
    """Model logical name -> table logical id, through the tag every table carries."""
    found = {}
    for logical_id, table in of_type(template, "AWS::DynamoDB::Table").items():
        tags = {t["Key"]: t["Value"] for t in table["Properties"].get("Tags", [])}
        found[tags[constants.TABLE_TAG]] = logical_id
    return found


def function_id(template: dict[str, Any], handler: str) -> str:
    functions = of_type(template, "AWS::Lambda::Function")
    matches = [k for k, v in functions.items() if v["Properties"]["Handler"] == handler]
    assert len(matches) == 1, f"expected one function with handler {handler}, found {matches}"
    return matches[0]


def statements_of(template: dict[str, Any], function_logical_id: str) -> list[dict[str, Any]]:
    """Every IAM statement attached to a function's role (inline policies of the template)."""
    role = template["Resources"][function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def method_paths(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, resource path) -> Method properties, rebuilt from the Resource tree."""
    api_resources = of_type(template, "AWS::ApiGateway::Resource")

    def path_of(resource_ref: Any) -> str:
        if "Fn::GetAtt" in resource_ref:  # the API's root resource
            return ""
        resource = api_resources[resource_ref["Ref"]]["Properties"]
        return path_of(resource["ParentId"]) + "/" + resource["PathPart"]

    methods = {}
    for method in of_type(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        methods[(props["HttpMethod"], path_of(props["ResourceId"]) or "/")] = props
    return methods


def deployed_routes() -> list[RouteSpec]:
    make_app("gridshare")
    return [r for r in ROUTES if not r.local_only]


def api_handler(context: str) -> str:
    return f"functions.{context}.lambda_app.app"


# ------------------------------------------------------------------------------------------------ tables
@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.Meta.logical_name)
def test_every_model_has_the_table_pynamodb_would_create(template: dict[str, Any], model: Any) -> None:
    # Given the schema PynamoDB itself derives from the model (what the local stack creates in moto)
    schema = model._get_schema()
    # When the CDK table of that model is looked up by its tag
    table = template["Resources"][table_ids(template)[model.Meta.logical_name]]["Properties"]
    # Then keys, attribute types and indexes are the same
    assert {(d["AttributeName"], d["AttributeType"]) for d in table["AttributeDefinitions"]} == {
        (d["AttributeName"], d["AttributeType"]) for d in schema["attribute_definitions"]
    }
    assert {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]} == {
        k["KeyType"]: k["AttributeName"] for k in schema["key_schema"]
    }
    expected_indexes = {
        gsi["index_name"]: (
            {k["KeyType"]: k["AttributeName"] for k in gsi["key_schema"]},
            gsi["projection"]["ProjectionType"],
        )
        for gsi in schema["global_secondary_indexes"]
    }
    actual_indexes = {
        gsi["IndexName"]: (
            {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]},
            gsi["Projection"]["ProjectionType"],
        )
        for gsi in table.get("GlobalSecondaryIndexes", [])
    }
    assert actual_indexes == expected_indexes


def test_tables_are_on_demand_recoverable_and_retained(template: dict[str, Any]) -> None:
    tables = of_type(template, "AWS::DynamoDB::Table")
    assert len(tables) == len(ALL_MODELS)
    for logical_id, table in tables.items():
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain", logical_id


def test_ttl_only_where_declared(template: dict[str, Any]) -> None:
    assert TTL_ATTRIBUTES == {
        "telemetry_raw": "expires_at",
        "auth_sessions": "expires_at",
        "rate_limits": "expires_at",
        "idempotency_keys": "expires_at",
        "device_commands": "purge_at",  # 90 days after issue; `expires_at` there is the command's deadline
        "device_status_history": "purge_at",  # 400 days after the transition
        "device_dead_letters": "purge_at",  # malformed acks, 30 days after arrival
        "notification_inbox": "purge_at",  # 180 days after the notification
        "notification_deliveries": "purge_at",  # delivery claims outlive any SQS retry, then go
        "ws_connections": "expires_at",  # API Gateway closes a connection after 2 h
        "ws_subscriptions": "expires_at",
    }, (
        "raw readings, sessions, rate counters, idempotency records, old commands, old status changes and the "
        "devices' dead letters expire; nothing else does"
    )
    ids = table_ids(template)
    for name, logical_id in ids.items():
        ttl = template["Resources"][logical_id]["Properties"].get("TimeToLiveSpecification")
        if name in TTL_ATTRIBUTES:
            assert ttl == {"AttributeName": TTL_ATTRIBUTES[name], "Enabled": True}
        else:
            assert ttl is None, name


def test_identity_tables_have_their_indexes_and_expiry(template: dict[str, Any]) -> None:
    """The identity issue's tables: sessions and rate-limit counters expire on their own; the security log
    never expires and is queried by user and by type; users are found by email and listed by role."""
    ids = table_ids(template)

    def props(model: Any) -> dict[str, Any]:
        return dict(template["Resources"][ids[model.Meta.logical_name]]["Properties"])

    def indexes(model: Any) -> dict[str, dict[str, str]]:
        return {
            gsi["IndexName"]: {k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}
            for gsi in props(model).get("GlobalSecondaryIndexes", [])
        }

    assert {m.Meta.logical_name for m in OWNERS["identity"]} == {
        "users",
        "auth_sessions",
        "rate_limits",
        "security_events",
        "token_revocations",
    }
    for model in (AuthSessionModel, RateLimitModel):
        assert props(model)["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    for model in (UserModel, SecurityEventModel):
        assert "TimeToLiveSpecification" not in props(model)
    assert indexes(UserModel) == {"by_email": {"HASH": "email"}, "by_role": {"HASH": "role", "RANGE": "id"}}
    assert indexes(AuthSessionModel) == {"by_user": {"HASH": "user_id"}}
    assert indexes(SecurityEventModel) == {
        "by_user": {"HASH": "user_id", "RANGE": "id"},
        "by_type": {"HASH": "type", "RANGE": "id"},
    }
    assert {k["KeyType"]: k["AttributeName"] for k in props(SecurityEventModel)["KeySchema"]} == {
        "HASH": "day",
        "RANGE": "id",
    }


def test_table_env_var_is_the_one_the_code_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    for model in ALL_MODELS:
        name = model.Meta.logical_name
        monkeypatch.setenv(constants.table_env_var(name), f"deployed-{name}")
        assert table_name(name) == f"deployed-{name}"


# ------------------------------------------------------------------------------------ least privilege
# How a function may use a table, as the code uses it:
#   "read" - reads only; "rw" - reads and writes; "append" - PutItem on the table itself and nothing else
#   (not even a read); "read+append" - reads and PutItem, never Update/Delete/BatchWrite (append-only log).
READ, RW, APPEND, READ_APPEND = "read", "rw", "append", "read+append"
# What the route guard of every API function with protected routes needs (gridshare.http.api._authenticate):
# the revocation check reads the revocations item (never users); a refused token is a security event.
ROUTE_GUARD: dict[Any, str] = {TokenRevocationModel: READ, SecurityEventModel: APPEND}
SETTLEMENT_PARTIES: dict[Any, str] = {
    TradeModel: READ,
    OrderModel: READ,
    SiteModel: READ,
    SiteDeviceModel: READ,
    InvestmentModel: READ,
    LedgerTransactionModel: READ,
    CommunityModel: READ,
    MemberModel: READ,
}
EXPECTED_TABLES: dict[str, dict[Any, str]] = {
    api_handler("platform"): {},
    "functions.identity.authorizer.handler": {UserModel: READ, TokenRevocationModel: READ},
    api_handler("identity"): {
        UserModel: RW,
        AuthSessionModel: RW,
        RateLimitModel: RW,
        SecurityEventModel: READ_APPEND,
        TokenRevocationModel: RW,
    },
    # provisioning counts the new device; history and stats are read; certificate rows are history:
    # read and PutItem (issue, revoke), never a delete
    api_handler("devices"): {
        DeviceModel: RW,
        CommandModel: RW,
        StatusChangeModel: READ,
        StatusCountModel: RW,
        CertificateModel: READ_APPEND,
        DeviceDeadLetterModel: READ,  # GET /v1/devices/dead-letters
        # PATCH siteId / GET one call the sites service in-process (decision 0012)
        SiteModel: READ,
        SiteDeviceModel: RW,
        **ROUTE_GUARD,
    },
    # command acks find the sender by thing name and settle its command; the schedule settles overdue ones
    # malformed acks are appended to the devices' dead letters (PutItem only)
    "functions.devices.command_acks.handler": {DeviceModel: READ, CommandModel: RW, DeviceDeadLetterModel: APPEND},
    "functions.devices.command_expiry.handler": {CommandModel: RW, DeviceModel: READ},  # the owner: CommandUpdated
    # health (decision 0012): the device item, an append-only history, the counts
    "functions.devices.heartbeats.handler": {DeviceModel: RW, StatusChangeModel: APPEND, StatusCountModel: RW},
    "functions.devices.offline_sweep.handler": {DeviceModel: RW, StatusChangeModel: APPEND, StatusCountModel: RW},
    # shadow documents keep the reported firmware version on the device record
    "functions.devices.shadow_documents.handler": {DeviceModel: RW},
    "functions.telemetry.ingest.handler": {
        LatestReadingModel: RW,
        RawReadingModel: RW,
        RollupModel: RW,
        DeadLetterModel: RW,
        DeviceModel: RW,  # note_seen (decision 0012)
        StatusChangeModel: APPEND,
        StatusCountModel: RW,
    },
    # the rollup job (decision 0016) reads raw readings and lists devices through the devices service; it
    # writes the rollups table only
    "functions.telemetry.rollup_job.handler": {RawReadingModel: READ, RollupModel: RW, DeviceModel: READ},
    # the archive job (decision 0024) reads raw readings and devices, records what it archived
    "functions.telemetry.archive_job.handler": {RawReadingModel: READ, ArchivedDayModel: RW, DeviceModel: READ},
    # the dead-letter replay route runs ingest in-process, so the API writes what ingest writes; a raw
    # history reads the archive's records of days past the retention (decision 0024)
    api_handler("telemetry"): {
        LatestReadingModel: RW,
        RawReadingModel: RW,
        RollupModel: RW,
        DeadLetterModel: RW,
        ArchivedDayModel: READ,
        DeviceModel: RW,
        StatusChangeModel: APPEND,
        StatusCountModel: RW,
        **ROUTE_GUARD,
    },
    # The ledger's transactions and entries are append-only (corrections are reversals): read + PutItem.
    api_handler("wallets"): {
        LedgerTransactionModel: READ_APPEND,
        LedgerEntryModel: READ_APPEND,
        LedgerAccountModel: RW,
        PaymentModel: RW,
        WithdrawalModel: RW,
        StripeEventModel: RW,
        IdempotencyKeyModel: RW,
        RefundModel: RW,
        **ROUTE_GUARD,
    },
    # Sites reach devices, telemetry and wallets through their services (docs/decisions/0010-sites-context.md):
    # the devices table and the rollups read only; the ledger as the wallets function has it (append-only
    # history); idempotency keys for the investment route.
    api_handler("sites"): {
        SiteModel: RW,
        SiteDeviceModel: RW,
        InvestmentModel: RW,
        DeviceModel: READ,
        RollupModel: READ,
        RawReadingModel: READ,  # open hours computed from raw on read (decision 0016)
        LedgerTransactionModel: READ_APPEND,
        LedgerEntryModel: READ_APPEND,
        LedgerAccountModel: RW,
        IdempotencyKeyModel: RW,
        **ROUTE_GUARD,
    },
    # Communities read a member's user (by id or email), site, site devices and rollups through the identity
    # and sites services (docs/decisions/0014-communities.md); the users table: GetItem + the email index.
    api_handler("communities"): {
        CommunityModel: RW,
        MemberModel: RW,
        UserModel: READ,
        SiteModel: READ,
        SiteDeviceModel: READ,
        RollupModel: READ,
        RawReadingModel: READ,
        **ROUTE_GUARD,
    },
    # The market reserves and releases BIDs' money through the wallets service (the ledger as the sites
    # function has it), reads an ASK's site and a community's members (docs/decisions/0019-market.md).
    api_handler("market"): {
        OrderModel: RW,
        TradeModel: RW,
        IntervalModel: RW,
        LedgerTransactionModel: READ_APPEND,
        LedgerEntryModel: READ_APPEND,
        LedgerAccountModel: RW,
        IdempotencyKeyModel: RW,
        SiteModel: READ,
        CommunityModel: READ,
        MemberModel: READ,
        **ROUTE_GUARD,
    },
    # the clearing schedule: fills, trades, clearing records, and the release of unfilled reservations
    "functions.market.clearing.handler": {
        OrderModel: RW,
        TradeModel: RW,
        IntervalModel: RW,
        LedgerTransactionModel: READ_APPEND,
        LedgerEntryModel: READ_APPEND,
        LedgerAccountModel: RW,
    },
    # settlement (docs/decisions/0023-settlement-runs.md): runs are recorded before their execution starts; a
    # run's postings are read from the history. The run's tasks read the parties (trades and their orders,
    # sites with devices and posted investments, communities), SettleShard the meters' rollups (and raw
    # readings for open hours) and posts to the ledger as the wallets function does; Finalize marks the
    # market's intervals settled.
    api_handler("settlement"): {SettlementRunModel: RW, SettlementPostingModel: READ, **ROUTE_GUARD},
    "functions.settlement.scheduler.handler": {SettlementRunModel: RW},
    "functions.settlement.prepare.handler": {SettlementRunModel: RW, **SETTLEMENT_PARTIES},
    "functions.settlement.settle_shard.handler": {
        SettlementRunModel: READ,
        SettlementShardModel: RW,
        SettlementPostingModel: RW,
        **SETTLEMENT_PARTIES,
        RollupModel: READ,
        RawReadingModel: READ,
        LedgerTransactionModel: READ_APPEND,
        LedgerEntryModel: READ_APPEND,
        LedgerAccountModel: RW,
    },
    "functions.settlement.finalize.handler": {SettlementRunModel: RW, SettlementShardModel: READ, IntervalModel: RW},
    "functions.settlement.mark_failed.handler": {SettlementRunModel: RW},
    # The grid reaches devices and telemetry through their services (docs/decisions/0015-grid.md): the
    # devices table, the latest readings and the rollups read only.
    api_handler("grid"): {
        GridNodeModel: RW,
        GridConnectionModel: RW,
        DeviceModel: READ,
        LatestReadingModel: READ,
        RollupModel: READ,
        RawReadingModel: READ,
        **ROUTE_GUARD,
    },
    # notifications (docs/decisions/0018-notifications.md)
    api_handler("notifications"): {PreferencesModel: RW, PushTokenModel: RW, InboxModel: RW, **ROUTE_GUARD},
    "functions.notifications.notifier.handler": {PreferencesModel: READ, InboxModel: APPEND},
    "functions.notifications.settlement.handler": {PreferencesModel: READ, InboxModel: APPEND},
    "functions.notifications.deliveries.handler": {
        DeliveryModel: RW,
        PreferencesModel: READ,
        PushTokenModel: RW,
        ConnectionModel: RW,
        SubscriptionModel: RW,
    },
    "functions.notifications.live.handler": {ConnectionModel: RW, SubscriptionModel: RW},
    # $connect: the route guard's revocation read; device topics: the devices service's ownership read
    "functions.notifications.websocket.handler": {
        ConnectionModel: RW,
        SubscriptionModel: RW,
        DeviceModel: READ,
        TokenRevocationModel: READ,
        AlertModel: RW,  # acknowledgeAlert, through the alerts service
    },
    # Alerts (docs/decisions/0017-alerts.md): a rule's device and site through the devices and sites services
    # (read only); the evaluator the site-devices table (which site's rules apply), read only.
    api_handler("alerts"): {
        AlertRuleModel: RW,
        AlertStateModel: RW,
        AlertModel: RW,
        DeviceModel: READ,
        SiteModel: READ,
        **ROUTE_GUARD,
    },
    "functions.alerts.evaluator.handler": {
        AlertRuleModel: RW,
        AlertStateModel: RW,
        AlertModel: RW,
        SiteDeviceModel: READ,
    },
    # reminders, and the baseline rules' 15-minute rollups through the telemetry service (read only)
    "functions.alerts.reminders.handler": {
        AlertModel: RW,
        AlertRuleModel: READ,
        AlertStateModel: RW,
        RollupModel: READ,
    },
}


def table_actions(template: dict[str, Any], function_logical_id: str) -> dict[str, set[str]]:
    """Table logical name -> every DynamoDB action the function may take on it (or on its indexes)."""
    names_by_id = {v: k for k, v in table_ids(template).items()}
    found: dict[str, set[str]] = {}
    for statement in statements_of(template, function_logical_id):
        actions = {a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")}
        if not actions:
            continue
        for table_id in referenced_ids(statement["Resource"]):
            if table_id in names_by_id:
                found.setdefault(names_by_id[table_id], set()).update(actions)
    return found


def access_level(actions: set[str]) -> str:
    writes = actions & WRITE_ACTIONS
    reads = actions - WRITE_ACTIONS
    if not writes:
        return READ
    if writes == {"dynamodb:PutItem"}:
        return READ_APPEND if reads else APPEND
    return RW


def test_every_function_is_accounted_for(template: dict[str, Any]) -> None:
    handlers = {f["Properties"]["Handler"] for f in of_type(template, "AWS::Lambda::Function").values()}
    assert handlers == set(EXPECTED_TABLES)


def test_every_api_function_with_a_list_route_signs_cursors_with_the_stacks_secret(template: dict[str, Any]) -> None:
    """gridshare.http.pagination has no default key: a function with a list route and no GS_CURSOR_SECRET
    answers 500 on every next page. Generated from the route table, so a new list route is checked too."""
    (secret_id,) = [
        k
        for k, v in of_type(template, "AWS::SecretsManager::Secret").items()
        if "GS_CURSOR_SECRET" in v["Properties"].get("Description", "")
    ]
    paginated = {r.context for r in deployed_routes() if r.paginated}
    assert {"identity", "devices", "telemetry", "wallets"} <= paginated
    for function in of_type(template, "AWS::Lambda::Function").values():
        handler = function["Properties"]["Handler"]
        env = function["Properties"]["Environment"]["Variables"]
        if handler in {api_handler(context) for context in paginated}:
            # a CloudFormation dynamic reference to this secret: resolved at deploy time, never a value
            value = render(env.get("GS_CURSOR_SECRET"))
            assert isinstance(value, str) and value.startswith("{{resolve:secretsmanager:"), handler
            assert "${" + secret_id + "}" in value, handler
        else:
            # and no other function holds the key
            assert "GS_CURSOR_SECRET" not in env, handler


XRAY_WRITE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_every_function_is_traced_and_names_its_service(template: dict[str, Any]) -> None:
    """gridshare.kernel.observability reads the service and namespace from the environment and traces only
    where Lambda's active tracing gives it a trace; a function missing one of them logs as
    "service_undefined" or runs untraced."""
    services = {}
    for logical_id, function in of_type(template, "AWS::Lambda::Function").items():
        props = function["Properties"]
        env = props["Environment"]["Variables"]
        # Then it is traced actively, with a service name of its own and the platform's metrics namespace
        assert props["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert isinstance(env.get("POWERTOOLS_SERVICE_NAME"), str) and env["POWERTOOLS_SERVICE_NAME"], logical_id
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == constants.SERVICE_NAMESPACE, logical_id
        services[props["Handler"]] = env["POWERTOOLS_SERVICE_NAME"]
        # And X-Ray may only receive its segments: the two write actions CDK adds, nothing to read traces
        xray = [
            s
            for s in statements_of(template, logical_id)
            if any(str(a).startswith("xray:") for a in as_list(s["Action"]))
        ]
        assert len(xray) == 1, logical_id
        assert set(as_list(xray[0]["Action"])) == XRAY_WRITE_ACTIONS, logical_id
        assert xray[0]["Resource"] == "*", logical_id  # X-Ray's write actions have no resource-level scope
    # Each function's metrics and logs are told apart by its service name
    assert len(set(services.values())) == len(services), services


@pytest.mark.parametrize("handler", sorted(EXPECTED_TABLES))
def test_function_reaches_only_its_own_tables(template: dict[str, Any], handler: str) -> None:
    # Given what the function's code touches
    expected = {model.Meta.logical_name: level for model, level in EXPECTED_TABLES[handler].items()}
    ids = table_ids(template)
    fn = function_id(template, handler)
    # When its IAM statements and environment are read
    actions = table_actions(template, fn)
    env = template["Resources"][fn]["Properties"].get("Environment", {}).get("Variables", {})
    named = {name for name in ids if constants.table_env_var(name) in env}
    # Then it reaches exactly those tables, each at exactly its level, and knows the names of those only
    assert {name: access_level(a) for name, a in actions.items()} == expected
    assert named == set(expected)
    for name in named:
        assert env[constants.table_env_var(name)] == {"Ref": ids[name]}


def test_append_grants_are_put_item_on_the_table_itself(template: dict[str, Any]) -> None:
    """An append grant names the table's own ARN only: PutItem on an index means nothing, and a wildcard
    would reach other tables."""
    ids = table_ids(template)
    for handler, tables in EXPECTED_TABLES.items():
        for model, level in tables.items():
            if level not in (APPEND, READ_APPEND):
                continue
            table_id = ids[model.Meta.logical_name]
            puts = [
                s
                for s in statements_of(template, function_id(template, handler))
                if "dynamodb:PutItem" in as_list(s["Action"]) and table_id in referenced_ids(s["Resource"])
            ]
            assert len(puts) == 1, handler
            assert as_list(puts[0]["Action"]) == ["dynamodb:PutItem"], handler
            assert {"Fn::GetAtt": [table_id, "Arn"]} in as_list(puts[0]["Resource"]), handler
            assert all("index" not in str(render(r)) for r in as_list(puts[0]["Resource"])), handler


def test_every_api_function_with_protected_routes_runs_the_route_guard(template: dict[str, Any]) -> None:
    """Each API Lambda with a protected route reads the revocations table and appends security events;
    only identity's functions may touch the users table at all, and only identity writes revocations."""
    ids = table_ids(template)
    events = SecurityEventModel.Meta.logical_name
    revoked = TokenRevocationModel.Meta.logical_name
    protected = sorted({r.context for r in deployed_routes() if r.protected})
    assert {"identity", "devices", "telemetry", "wallets"} <= set(protected)
    for context in protected:
        fn = function_id(template, api_handler(context))
        actions = table_actions(template, fn)
        assert "dynamodb:GetItem" in actions.get(revoked, set()), context
        assert "dynamodb:PutItem" in actions.get(events, set()), context
        env = template["Resources"][fn]["Properties"]["Environment"]["Variables"]
        assert env[constants.table_env_var(revoked)] == {"Ref": ids[revoked]}, context
        assert env[constants.table_env_var(events)] == {"Ref": ids[events]}, context
        if context != "identity":
            assert not actions[revoked] & WRITE_ACTIONS, context
            assert actions[events] == {"dynamodb:PutItem"}, context
    # Nobody else reaches identity's tables at all, and nobody may rewrite or delete a security event.
    identity_tables = {m.Meta.logical_name for m in OWNERS["identity"]}
    identity_handlers = {api_handler("identity"), "functions.identity.authorizer.handler"}
    users = UserModel.Meta.logical_name
    for fn in of_type(template, "AWS::Lambda::Function"):
        actions = table_actions(template, fn)
        assert not actions.get(events, set()) & (WRITE_ACTIONS - {"dynamodb:PutItem"}), fn
        handler = template["Resources"][fn]["Properties"]["Handler"]
        if handler == api_handler("communities"):  # a member by id or email (decision 0014)
            assert actions[users] == {"dynamodb:GetItem", "dynamodb:Query"}, handler
            assert set(actions) & identity_tables <= {revoked, events, users}, handler
        elif handler not in identity_handlers:
            assert set(actions) & identity_tables <= {revoked, events}, handler


def test_the_users_table_is_granted_to_identity_functions_only(template: dict[str, Any]) -> None:
    """...and to the communities function's member look-up (GetItem, the email index: asserted below)."""
    users = table_ids(template)["users"]
    identity_handlers = {api_handler("identity"), "functions.identity.authorizer.handler", api_handler("communities")}
    granted = {
        template["Resources"][fn]["Properties"]["Handler"]
        for fn in of_type(template, "AWS::Lambda::Function")
        if any(users in referenced_ids(st["Resource"]) for st in statements_of(template, fn))
    }
    assert granted and granted <= identity_handlers, granted


def test_identity_function_has_no_access_to_telemetry_tables(template: dict[str, Any]) -> None:
    telemetry_ids = {table_ids(template)[m.Meta.logical_name] for m in OWNERS["telemetry"]}
    statements = statements_of(template, function_id(template, api_handler("identity")))
    assert not referenced_ids(statements) & telemetry_ids


def test_ingest_cannot_write_the_users_table(template: dict[str, Any]) -> None:
    users = table_ids(template)["users"]
    for statement in statements_of(template, function_id(template, "functions.telemetry.ingest.handler")):
        assert users not in referenced_ids(statement["Resource"])


def test_no_function_has_wildcard_dynamodb_access(template: dict[str, Any]) -> None:
    for policy_id, policy in of_type(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = as_list(statement["Action"])
            if any(a.startswith("dynamodb:") or a == "*" for a in actions):
                assert "dynamodb:*" not in actions and "*" not in actions, policy_id
                assert "*" not in as_list(statement["Resource"]), policy_id


# Cognito APIs a public app client calls without IAM (the user's password, refresh or access token is
# the credential), and admin calls only the CLI makes (create_admin, with operator credentials).
COGNITO_CALLS_WITHOUT_IAM = {
    "sign_up",
    "confirm_sign_up",
    "resend_confirmation_code",
    "initiate_auth",
    "respond_to_auth_challenge",
    "associate_software_token",
    "verify_software_token",
    "set_user_mfa_preference",
    "get_user",
    "change_password",
    "forgot_password",
    "confirm_forgot_password",
    "global_sign_out",
    "revoke_token",
}
# `gridshare admin create` only (the CLI, run with the operator's credentials): create, and delete a half-made user.
COGNITO_CLI_ONLY = {"admin_create_user", "admin_delete_user"}


def cognito_calls_needing_iam() -> set[str]:
    """IAM actions of the calls gridshare.identity.cognito makes on its boto3 client (`self._idp.x(`)."""
    source = (REPO / "layers" / "gridshare" / "gridshare" / "identity" / "cognito.py").read_text()
    calls = set(re.findall(r"self\._idp\.([a-z_]+)\(", source))
    assert calls, "no Cognito calls found: did the adapter move?"
    return {
        "cognito-idp:" + "".join(part.capitalize() for part in call.split("_"))
        for call in calls - COGNITO_CALLS_WITHOUT_IAM - COGNITO_CLI_ONLY
    }


def test_identity_cognito_and_ses_grants_are_scoped(template: dict[str, Any]) -> None:
    pool = next(iter(of_type(template, "AWS::Cognito::UserPool")))
    statements = statements_of(template, function_id(template, api_handler("identity")))
    cognito = [s for s in statements if any(a.startswith("cognito-idp:") for a in as_list(s["Action"]))]
    assert cognito and all(s["Resource"] == {"Fn::GetAtt": [pool, "Arn"]} for s in cognito)
    # exactly the admin calls the adapter makes, and none the API never makes (AdminCreateUser: CLI only)
    granted = {a for s in cognito for a in as_list(s["Action"])}
    assert granted == cognito_calls_needing_iam()
    assert not {"cognito-idp:AdminCreateUser", "cognito-idp:AdminDeleteUser"} & granted
    assert {"cognito-idp:AdminUserGlobalSignOut", "cognito-idp:AdminSetUserPassword"} <= granted
    ses = [s for s in statements if "ses:SendEmail" in as_list(s["Action"])]
    assert len(ses) == 1 and "ses:FromAddress" in ses[0]["Condition"]["StringEquals"]


def test_devices_iot_grants_are_scoped(template: dict[str, Any]) -> None:
    statements = statements_of(template, function_id(template, api_handler("devices")))
    iot = [s for s in statements if any(a.startswith("iot:") for a in as_list(s["Action"]))]
    by_action = {a: [str(r) for r in as_list(render(s["Resource"]))] for s in iot for a in as_list(s["Action"])}
    # Only the two certificate-issuing actions, which support no resource-level permission, take "*".
    assert {a for a, res in by_action.items() if "*" in res} == {
        "iot:CreateKeysAndCertificate",
        "iot:CreateCertificateFromCsr",
    }
    assert all(r.endswith(":thing/gs-*") for r in by_action["iot:CreateThing"] + by_action["iot:DeleteThing"])
    for action in ("iot:AttachPolicy", "iot:DetachPolicy", "iot:UpdateCertificate", "iot:DeleteCertificate"):
        assert by_action[action] and all(r.endswith(":cert/*") for r in by_action[action]), action
    # Revocation and decommissioning detach the thing from certificates: the platform's things, certificates
    for action in ("iot:AttachThingPrincipal", "iot:DetachThingPrincipal"):
        assert sorted(r.rsplit(":", 1)[-1] for r in by_action[action]) == ["cert/*", "thing/gs-*"], action
    # Commands are published on devices' command topics, and nowhere else (not telemetry, not acks)
    assert [r.rsplit(":", 1)[-1] for r in by_action["iot:Publish"]] == ["topic/gs/v1/*/commands"]
    # Shadows: read and write desired on the platform's things only, never delete, never named-shadow lists
    for action in ("iot:GetThingShadow", "iot:UpdateThingShadow"):
        assert [r.rsplit(":", 1)[-1] for r in by_action[action]] == ["thing/gs-*"], action
    assert set(by_action) == {
        "iot:Publish",
        "iot:GetThingShadow",
        "iot:UpdateThingShadow",
        "iot:CreateThing",
        "iot:DeleteThing",
        "iot:CreateKeysAndCertificate",
        "iot:CreateCertificateFromCsr",
        "iot:UpdateCertificate",
        "iot:DeleteCertificate",
        "iot:AttachThingPrincipal",
        "iot:DetachThingPrincipal",
        "iot:AttachPolicy",
        "iot:DetachPolicy",
    }


def test_other_functions_have_no_iot_cognito_or_ses_access(template: dict[str, Any]) -> None:
    notifier, deliveries = "functions.notifications.notifier.handler", "functions.notifications.deliveries.handler"
    settlement = "functions.notifications.settlement.handler"
    owners = {
        "iot:": {api_handler("devices")},
        # notifications reach users through identity's contacts (the pool, never its tables) and email them
        "cognito-idp:": {api_handler("identity"), notifier, settlement, deliveries},
        "ses:": {api_handler("identity"), deliveries},
    }
    for handler in EXPECTED_TABLES:
        actions = {a for s in statements_of(template, function_id(template, handler)) for a in as_list(s["Action"])}
        for prefix, allowed in owners.items():
            if handler not in allowed:
                assert not any(a.startswith(prefix) for a in actions), (handler, prefix)


def test_secrets_key_is_rotated_retained_and_used_by_the_identity_api_only(template: dict[str, Any]) -> None:
    from infra_cdk.constructs.identity import SECRETS_KEY_ACTIONS, SECRETS_KEY_ENV

    (key_id,) = of_type(template, "AWS::KMS::Key")
    key = template["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"  # deleting it would make every sealed secret unreadable
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    identity = function_id(template, api_handler("identity"))
    # The identity API: exactly GenerateDataKey and Decrypt on this key (no Encrypt, no ReEncrypt, no "*")
    statements = statements_of(template, identity)
    kms_statements = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert len(kms_statements) == 1 and kms_statements[0]["Effect"] == "Allow"
    assert sorted(as_list(kms_statements[0]["Action"])) == sorted(SECRETS_KEY_ACTIONS)
    assert set(SECRETS_KEY_ACTIONS) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert as_list(kms_statements[0]["Resource"]) == [key_arn]
    env = template["Resources"][identity]["Properties"]["Environment"]["Variables"]
    assert env[SECRETS_KEY_ENV] == key_arn
    # No other function (the authorizer included) may use any KMS key or is told about this one
    for fn, props in of_type(template, "AWS::Lambda::Function").items():
        if fn == identity:
            continue
        actions = {a for s in statements_of(template, fn) for a in as_list(s["Action"])}
        assert not any(a.startswith("kms:") for a in actions), props["Properties"]["Handler"]
        assert SECRETS_KEY_ENV not in props["Properties"].get("Environment", {}).get("Variables", {})


def test_secrets_key_setting_is_the_one_the_code_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.kernel.settings import get_settings, reset_settings
    from gridshare_local.provision import SECRETS_KEY_ALIAS
    from infra_cdk.constructs.identity import SECRETS_KEY_ENV

    monkeypatch.setenv(SECRETS_KEY_ENV, SECRETS_KEY_ALIAS)
    reset_settings()
    try:
        assert get_settings().secrets_key_id == SECRETS_KEY_ALIAS
    finally:
        monkeypatch.delenv(SECRETS_KEY_ENV)
        reset_settings()


# ------------------------------------------------------------------------------------------------ IoT
def test_device_policy_is_the_iot_rules_document_scoped_by_thing_name(template: dict[str, Any]) -> None:
    (policy,) = of_type(template, "AWS::IoT::Policy").values()
    assert policy["Properties"]["PolicyName"] == resources.DEVICE_POLICY_NAME
    document = render(policy["Properties"]["PolicyDocument"])
    assert document == resources.device_policy_document("${AWS::Region}", "${AWS::AccountId}")
    for statement in document["Statement"]:
        assert set(as_list(statement["Action"])) <= IOT_DEVICE_ACTIONS
        for resource in as_list(statement["Resource"]):
            assert THING_VARIABLE in resource, resource
            assert "*" not in resource, resource


@pytest.mark.parametrize("rule", resources.topic_rules(), ids=lambda r: r["name"])
def test_topic_rule_is_the_iot_rules_file(template: dict[str, Any], rule: dict[str, Any]) -> None:
    rules = {
        r["Properties"]["RuleName"]: r["Properties"]["TopicRulePayload"]
        for r in of_type(template, "AWS::IoT::TopicRule").values()
    }
    payload = rules[rule["name"]]
    assert payload["Sql"] == rule["sql"]
    assert payload["AwsIotSqlVersion"] == rule["awsIotSqlVersion"]
    assert payload["RuleDisabled"] is False
    queues = {v["Properties"]["QueueName"]: k for k, v in of_type(template, "AWS::SQS::Queue").items()}
    stack = constants.stack_name(constants.DEFAULT_STAGE)

    def queue_id(action: dict[str, Any]) -> str:
        return queues[f"{stack}-{action['sqs']['queue']}"]

    assert [a["Sqs"]["QueueUrl"] for a in payload["Actions"]] == [{"Ref": queue_id(a)} for a in rule["actions"]]
    assert payload["ErrorAction"]["Sqs"]["QueueUrl"] == {"Ref": queue_id(rule["errorAction"])}
    # The rule's role may send to exactly its queues, and do nothing else.
    role = payload["ErrorAction"]["Sqs"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert [as_list(s["Action"]) for s in statements] == [["sqs:SendMessage"]]
    targets = {queue_id(a) for a in [*rule["actions"], rule["errorAction"]]}
    assert {r["Fn::GetAtt"][0] for r in as_list(statements[0]["Resource"])} == targets


# ----------------------------------------------------------------------------------- queues and alarms
@pytest.mark.parametrize("spec", resources.QUEUES, ids=lambda q: q.name)
def test_queue_has_a_dead_letter_queue_and_alarm(template: dict[str, Any], spec: Any) -> None:
    stack = constants.stack_name(constants.DEFAULT_STAGE)
    all_queues = of_type(template, "AWS::SQS::Queue")
    queues = {q["Properties"]["QueueName"]: (k, q["Properties"]) for k, q in all_queues.items()}
    queue_id, queue = queues[f"{stack}-{spec.name}"]
    dlq_id, dlq = queues[f"{stack}-{spec.name}-dlq"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": spec.max_receive_count,
    }
    assert queue["VisibilityTimeout"] == spec.visibility_timeout_s
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    alarms = [a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()]
    dimensions = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    dlq_alarms = [a for a in alarms if a.get("Dimensions") == dimensions]
    assert len(dlq_alarms) == 1
    alarm = dlq_alarms[0]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert queue_id  # the queue itself exists


@pytest.mark.parametrize("source", resources.EVENT_SOURCES, ids=lambda s: s.handler)
def test_event_source_feeds_its_handler_with_partial_batch_failures(template: dict[str, Any], source: Any) -> None:
    stack = constants.stack_name(constants.DEFAULT_STAGE)
    queues = {v["Properties"]["QueueName"]: k for k, v in of_type(template, "AWS::SQS::Queue").items()}
    fn = function_id(template, source.handler)
    (mapping,) = [
        m["Properties"]
        for m in of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": fn}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queues[f"{stack}-{source.queue}"], "Arn"]}
    assert mapping["BatchSize"] == source.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_command_acks_rule_takes_the_thing_from_the_topic(template: dict[str, Any]) -> None:
    rules = {r["Properties"]["RuleName"]: r["Properties"] for r in of_type(template, "AWS::IoT::TopicRule").values()}
    sql = rules["gs_command_acks_v1"]["TopicRulePayload"]["Sql"]
    assert "topic(3) AS thing_name" in sql and sql.endswith("FROM 'gs/v1/+/commands/ack'")
    assert "ErrorAction" in rules["gs_command_acks_v1"]["TopicRulePayload"]


def test_shadow_documents_rule_reads_the_shadow_documents_topic(template: dict[str, Any]) -> None:
    rules = {r["Properties"]["RuleName"]: r["Properties"] for r in of_type(template, "AWS::IoT::TopicRule").values()}
    payload = rules["gs_shadow_documents_v1"]["TopicRulePayload"]
    assert "topic(3) AS thing_name" in payload["Sql"]
    assert payload["Sql"].endswith("FROM '$aws/things/+/shadow/update/documents'")
    assert "ErrorAction" in payload


def test_device_policy_allows_exactly_its_own_classic_shadow(template: dict[str, Any]) -> None:
    (policy,) = of_type(template, "AWS::IoT::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    shadow = {
        s["Action"]: [str(render(r)).split("${AWS::AccountId}:", 1)[-1] for r in as_list(s["Resource"])]
        for s in statements
        if any("$aws/" in str(render(r)) for r in as_list(s["Resource"]))
    }
    own = "$aws/things/${iot:Connection.Thing.ThingName}/shadow/"
    replies = [f"{op}/{answer}" for op in ("update", "get", "delete") for answer in ("accepted", "rejected")]
    replies = [*replies[:2], "update/delta", "update/documents", *replies[2:]]
    assert shadow == {
        "iot:Publish": [f"topic/{own}{op}" for op in ("update", "get", "delete")],
        "iot:Subscribe": [f"topicfilter/{own}{reply}" for reply in replies],
        "iot:Receive": [f"topic/{own}{reply}" for reply in replies],
    }


@pytest.mark.parametrize("spec", resources.SCHEDULES, ids=lambda s: s.name)
def test_schedule_runs_its_function_with_a_role_that_may_invoke_only_it(template: dict[str, Any], spec: Any) -> None:
    schedules = [
        s["Properties"]
        for s in of_type(template, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [function_id(template, spec.handler), "Arn"]}
    ]
    # one schedule per segment, each with its segment's input, all through one role
    assert sorted(s["Target"]["Input"] for s in schedules) == sorted(payload for _, payload in spec.invocations())
    assert len({json.dumps(s["Target"]["RoleArn"]) for s in schedules}) == 1
    schedule = schedules[0]
    assert {s["ScheduleExpression"] for s in schedules} == {spec.expression}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    role = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    statements = [
        s
        for p in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {a for s in statements for a in as_list(s["Action"])} == {"lambda:InvokeFunction"}
    fn = function_id(template, spec.handler)
    assert {r for s in statements for r in referenced_ids(s["Resource"])} == {fn}


# --------------------------------------------------------------------------------------------------- API
def test_every_route_has_its_method_with_the_right_authorization(template: dict[str, Any]) -> None:
    methods = method_paths(template)
    (authorizer_id,) = of_type(template, "AWS::ApiGateway::Authorizer")
    routes = deployed_routes()
    assert routes, "the route table is empty"
    for route in routes:
        method = methods[(route.method.upper(), route.path)]
        if route.protected:
            assert method["AuthorizationType"] == "CUSTOM", route.path
            assert method["AuthorizerId"] == {"Ref": authorizer_id}, route.path
        else:
            assert method["AuthorizationType"] == "NONE", route.path
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert function_id(template, api_handler(route.context)) in referenced_ids(integration["Uri"])
    # No method without a route (no {proxy+}, no local-only route), CORS preflights off by default.
    assert set(methods) == {(r.method.upper(), r.path) for r in routes}
    assert not any("proxy+" in path for _, path in methods)


def test_local_only_routes_are_not_deployed(template: dict[str, Any]) -> None:
    import gridshare_local.clock_api
    import gridshare_local.outbox  # noqa: F401 - registers the local stack's routes, as the stack does

    make_app("gridshare")
    local = {(r.method.upper(), r.path) for r in ROUTES if r.local_only}
    assert local >= {("GET", "/_local/outbox"), ("GET", "/_local/clock"), ("POST", "/_local/clock/advance")}
    assert not any(r.path.startswith("/_local") for r in ROUTES if not r.local_only)
    assert not local & set(method_paths(template))
    assert not any(path.startswith("/_local") for _, path in method_paths(template))


def test_no_function_can_move_or_see_the_local_clock(template: dict[str, Any]) -> None:
    """GS_CLOCK_FILE (the local stack's clock offset) and GS_LOCAL_STACK are never set in a deployment."""
    for logical_id, fn in of_type(template, "AWS::Lambda::Function").items():
        variables = fn["Properties"].get("Environment", {}).get("Variables", {})
        assert "GS_CLOCK_FILE" not in variables and "GS_LOCAL_STACK" not in variables, logical_id
    assert "GS_CLOCK_FILE" not in json.dumps(template)
    # the code that serves /_local routes and moves the clock (gridshare_local) is never in an asset
    shipped = list(Path(template["__outdir__"]).rglob("*.py"))
    assert shipped and not any("gridshare_local" in p.parts for p in shipped)
    assert not [p for p in shipped if "/_local/" in p.read_text(encoding="utf-8", errors="replace")]


def test_authorizer_checks_every_request(template: dict[str, Any]) -> None:
    (authorizer,) = of_type(template, "AWS::ApiGateway::Authorizer").values()
    props = authorizer["Properties"]
    assert props["Type"] == "TOKEN"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == 0
    assert function_id(template, "functions.identity.authorizer.handler") in referenced_ids(props["AuthorizerUri"])


def test_stage_is_throttled_traced_and_access_logged(template: dict[str, Any]) -> None:
    (stage,) = of_type(template, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    settings = props["MethodSettings"][0]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (
        constants.API_RATE_LIMIT,
        constants.API_BURST_LIMIT,
    )
    assert props["TracingEnabled"] is True
    assert "$context.requestId" in props["AccessLogSetting"]["Format"]
    # joins the authorizer's log lines (correlated by its own invocation id) to the request
    assert "$context.authorizer.requestId" in props["AccessLogSetting"]["Format"]
    assert props["AccessLogSetting"]["DestinationArn"]


def test_auth_methods_have_tighter_throttling(template: dict[str, Any]) -> None:
    (stage,) = of_type(template, "AWS::ApiGateway::Stage").values()
    # ResourcePath is "/" + the path with each "/" escaped as "~1" ("/~1v1~1auth~1login"); "/*" is every method
    settings = {
        (m["HttpMethod"], m["ResourcePath"][1:].replace("~1", "/")): m for m in stage["Properties"]["MethodSettings"]
    }
    auth = [r for r in deployed_routes() if r.path.startswith(constants.AUTH_PATH_PREFIX) and r.method.upper() != "GET"]
    assert {("POST", "/v1/auth/login"), ("POST", "/v1/auth/register"), ("POST", "/v1/auth/refresh")} <= {
        (r.method.upper(), r.path) for r in auth
    }
    for route in auth:
        method = settings[(route.method.upper(), route.path)]
        assert (method["ThrottlingRateLimit"], method["ThrottlingBurstLimit"]) == (
            constants.AUTH_RATE_LIMIT,
            constants.AUTH_BURST_LIMIT,
        ), route.path
    assert constants.AUTH_RATE_LIMIT < constants.API_RATE_LIMIT
    # everything else keeps the stage-wide default
    assert len(settings) == len(auth) + 1 and ("*", "*") in settings


# ------------------------------------------------------------------------------------------------ WAF
def _byte_matches(statement: dict[str, Any]) -> list[dict[str, Any]]:
    if "ByteMatchStatement" in statement:
        return [statement["ByteMatchStatement"]]
    if "OrStatement" in statement:
        return [m for s in statement["OrStatement"]["Statements"] for m in _byte_matches(s)]
    raise AssertionError(f"unexpected scope-down statement {sorted(statement)}")


def test_waf_rate_limits_each_ip_and_tighter_on_auth(template: dict[str, Any]) -> None:
    (acl,) = of_type(template, "AWS::WAFv2::WebACL").values()
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL"
    assert props["DefaultAction"] == {"Allow": {}}
    assert props["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
    rules = {r["Name"]: r for r in props["Rules"]}
    assert len(rules) == 2 and len({r["Priority"] for r in rules.values()}) == 2
    api, auth = rules["api-rate-per-ip"], rules["auth-rate-per-ip"]
    assert auth["Priority"] < api["Priority"]  # the tighter rule is evaluated first
    for rule, limit in ((api, constants.WAF_API_LIMIT_PER_IP), (auth, constants.WAF_AUTH_LIMIT_PER_IP)):
        rate = rule["Statement"]["RateBasedStatement"]
        assert rate["AggregateKeyType"] == "IP"
        assert rate["Limit"] == limit
        assert rate["EvaluationWindowSec"] == constants.WAF_WINDOW_S
        assert rule["VisibilityConfig"] == {
            "CloudWatchMetricsEnabled": True,
            "MetricName": f"{constants.WAF_METRIC_PREFIX}-{rule['Name']}",
            "SampledRequestsEnabled": True,
        }
        block = rule["Action"]["Block"]["CustomResponse"]
        assert block["ResponseCode"] == 429
        body = props["CustomResponseBodies"][block["CustomResponseBodyKey"]]
        assert body["ContentType"] == "APPLICATION_JSON"
        assert json.loads(body["Content"])["status"] == 429
    assert constants.WAF_AUTH_LIMIT_PER_IP < constants.WAF_API_LIMIT_PER_IP
    assert "ScopeDownStatement" not in api["Statement"]["RateBasedStatement"]
    # the auth rule counts only requests whose path starts with /v1/auth/, with or without the stage
    matches = _byte_matches(auth["Statement"]["RateBasedStatement"]["ScopeDownStatement"])
    assert matches
    prefixes = set()
    for match in matches:
        assert match["FieldToMatch"] == {"UriPath": {}}
        assert match["PositionalConstraint"] == "STARTS_WITH"
        assert {t["Type"] for t in match["TextTransformations"]} >= {"URL_DECODE", "NORMALIZE_PATH"}
        prefixes.add(render(match["SearchString"]))
    (stage_id,) = of_type(template, "AWS::ApiGateway::Stage")
    assert prefixes == {constants.AUTH_PATH_PREFIX, "/${" + stage_id + "}" + constants.AUTH_PATH_PREFIX}


def test_waf_is_associated_with_the_api_stage(template: dict[str, Any]) -> None:
    (acl_id,) = of_type(template, "AWS::WAFv2::WebACL")
    (association,) = of_type(template, "AWS::WAFv2::WebACLAssociation").values()
    (api_id,) = of_type(template, "AWS::ApiGateway::RestApi")
    (stage_id,) = of_type(template, "AWS::ApiGateway::Stage")
    props = association["Properties"]
    assert props["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    arn = render(props["ResourceArn"])
    assert arn.endswith(f":apigateway:${{AWS::Region}}::/restapis/${{{api_id}}}/stages/${{{stage_id}}}")
    # a Ref to the stage, so CloudFormation associates only once the stage exists
    assert stage_id in referenced_ids(props["ResourceArn"])


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "ACCESS_DENIED"])
def test_gateway_errors_are_problem_json(template: dict[str, Any], response_type: str) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in of_type(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    response = responses[response_type]
    assert response["ResponseParameters"]["gatewayresponse.header.Content-Type"] == f"'{PROBLEM_CONTENT_TYPE}'"
    body = response["ResponseTemplates"]["application/json"]
    assert '"detail": $context.error.messageString' in body
    document = json.loads(body.replace("$context.error.messageString", '"x"'))
    assert document["type"].startswith("https://") and document["title"]


# ----------------------------------------------------------------------------------------- identity
def test_user_pool_follows_resources(template: dict[str, Any]) -> None:
    (pool,) = of_type(template, "AWS::Cognito::UserPool").values()
    props = pool["Properties"]
    assert props["AliasAttributes"] == ["email"]
    assert props["MfaConfiguration"] == "OPTIONAL" and props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["Policies"]["PasswordPolicy"] == resources.PASSWORD_POLICY
    groups = {
        g["Properties"]["GroupName"]: g["Properties"]["Precedence"]
        for g in of_type(template, "AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == dict(resources.USER_GROUPS)
    (client,) = of_type(template, "AWS::Cognito::UserPoolClient").values()
    client_props = client["Properties"]
    assert client_props["GenerateSecret"] is False
    assert set(client_props["ExplicitAuthFlows"]) == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert client_props["AccessTokenValidity"] == resources.ACCESS_TOKEN_MINUTES
    assert client_props["AllowedOAuthFlowsUserPoolClient"] is False


# ------------------------------------------------------------------------------------------- wallets
WALLETS = "functions.wallets.lambda_app.app"
SITES = "functions.sites.lambda_app.app"
MARKET_CLEARING = "functions.market.clearing.handler"
WEBHOOK = ("POST", "/v1/payments/stripe/webhook")
# The routes issue 5 names (an acceptance client outside this repo calls them); path parameter names are
# the code's choice, so they are compared as "{}".
ISSUE_5_ROUTES = {
    ("GET", "/v1/wallet"),
    ("GET", "/v1/wallet/transactions"),
    ("POST", "/v1/wallet/topups"),
    WEBHOOK,
    ("POST", "/v1/wallet/withdrawals"),
    ("POST", "/v1/admin/withdrawals/{}/approve"),
    ("POST", "/v1/admin/withdrawals/{}/reject"),
    ("POST", "/v1/admin/refunds"),
    ("POST", "/v1/admin/sales"),
    ("GET", "/v1/statements"),
    ("GET", "/v1/admin/metrics"),
}
# Something that looks like a real Stripe key or signing secret (not a documented placeholder like "sk_...").
STRIPE_KEY_PATTERN = re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]{8,}|\bwhsec_[A-Za-z0-9]{8,}")


def _normalized(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _stripe_secret_id(template: dict[str, Any]) -> str:
    env = template["Resources"][function_id(template, WALLETS)]["Properties"]["Environment"]["Variables"]
    secret_ref = env["GS_STRIPE_SECRET_ARN"]
    assert set(secret_ref) == {"Ref"}, secret_ref  # the ARN, by reference: never a value in the template
    secret_id = str(secret_ref["Ref"])
    assert template["Resources"][secret_id]["Type"] == "AWS::SecretsManager::Secret"
    return secret_id


def test_wallet_tables_are_the_models_recoverable_and_never_expire_money(template: dict[str, Any]) -> None:
    ids = table_ids(template)
    names = {m.Meta.logical_name for m in OWNERS["wallets"]}
    assert names == {
        "ledger_transactions",
        "ledger_accounts",
        "ledger_entries",
        "payments",
        "withdrawals",
        "stripe_events",
        "idempotency_keys",
        "refunds",
    }
    for name in names:
        table = template["Resources"][ids[name]]
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert table["DeletionPolicy"] == "Retain", name
        assert props["SSESpecification"] == {"SSEEnabled": True}, name
        # Only client idempotency keys expire; the ledger, payments, withdrawals and event ids never do.
        if name == "idempotency_keys":
            assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props, name
    keys = {
        k["KeyType"]: k["AttributeName"]
        for k in template["Resources"][ids["ledger_entries"]]["Properties"]["KeySchema"]
    }
    assert keys == {"HASH": "pk", "RANGE": "seq"}


def test_ledger_history_is_append_only_for_every_function(template: dict[str, Any]) -> None:
    """Corrections are reversals, never edits: no function may update or delete a posted transaction or
    an entry (IAM backs the hash chain), and only the wallets function, the sites function that posts
    investments through the wallets service (decision 0010), and the market's functions that post BID
    reservations and their releases through it (decision 0019), may touch the ledger at all."""
    history = {LedgerTransactionModel.Meta.logical_name, LedgerEntryModel.Meta.logical_name}
    wallet_tables = {m.Meta.logical_name for m in OWNERS["wallets"]}
    ledger = {m.Meta.logical_name for m in (LedgerTransactionModel, LedgerEntryModel, LedgerAccountModel)}
    keys = {IdempotencyKeyModel.Meta.logical_name}
    through_wallets = {
        SITES: ledger | keys,
        api_handler("market"): ledger | keys,
        MARKET_CLEARING: ledger,
        # settlement (decision 0023): SettleShard posts through the wallets adapter; Prepare reads whether
        # an investment's transaction is posted (the sites service's view of investors)
        "functions.settlement.settle_shard.handler": ledger,
        "functions.settlement.prepare.handler": {LedgerTransactionModel.Meta.logical_name},
    }
    for fn, props in of_type(template, "AWS::Lambda::Function").items():
        actions = table_actions(template, fn)
        for name in history:
            assert not actions.get(name, set()) & (WRITE_ACTIONS - {"dynamodb:PutItem"}), (fn, name)
        handler = props["Properties"]["Handler"]
        if handler in through_wallets:
            assert set(actions) & wallet_tables == through_wallets[handler], handler
        elif handler != WALLETS:
            assert not set(actions) & wallet_tables, handler


def test_stripe_secret_is_read_by_the_wallets_function_only(template: dict[str, Any]) -> None:
    secret_id = _stripe_secret_id(template)
    statements = statements_of(template, function_id(template, WALLETS))
    secret_statements = [s for s in statements if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]
    # GetSecretValue on exactly this secret's ARN: no DescribeSecret, no wildcard, no other secret
    assert len(secret_statements) == 1
    assert as_list(secret_statements[0]["Action"]) == ["secretsmanager:GetSecretValue"]
    assert as_list(secret_statements[0]["Resource"]) == [{"Ref": secret_id}]
    assert secret_statements[0]["Effect"] == "Allow" and "Condition" not in secret_statements[0]
    # No other function may read any secret (the cursor secret reaches functions as a dynamic reference).
    for fn, props in of_type(template, "AWS::Lambda::Function").items():
        if props["Properties"]["Handler"] == WALLETS:
            continue
        actions = {a for s in statements_of(template, fn) for a in as_list(s["Action"])}
        assert not any(a.startswith("secretsmanager:") for a in actions), props["Properties"]["Handler"]
    # The deployed function talks to api.stripe.com: the stand-in's base URL is the local stack's only.
    env = template["Resources"][function_id(template, WALLETS)]["Properties"]["Environment"]["Variables"]
    assert "GS_STRIPE_API_BASE" not in env
    assert "{{resolve:secretsmanager:" in render(env["GS_CURSOR_SECRET"])  # transactions are cursor-paginated


def test_stripe_secret_has_the_shape_the_local_stack_provisions_and_no_real_key(template: dict[str, Any]) -> None:
    from gridshare_local.provision import StripeCredentials

    secret = template["Resources"][_stripe_secret_id(template)]["Properties"]
    assert "SecretString" not in secret  # generated by Secrets Manager, never a value in the template
    generated = secret["GenerateSecretString"]
    shape = {**json.loads(generated["SecretStringTemplate"]), generated["GenerateStringKey"]: "generated"}
    local = StripeCredentials(api_key="sk_test_x", webhook_secrets=("whsec_x",)).secret_value()
    assert set(shape) == set(local) == {"apiKey", "webhookSecrets"}
    assert all(isinstance(shape[k], type(local[k])) for k in local)
    # Until an operator puts the real value, no webhook secret exists, so every delivery is refused: a
    # known placeholder secret would let anyone sign a `payment_intent.succeeded`.
    assert shape["webhookSecrets"] == []
    assert '"apiKey"' in secret["Description"] and '"webhookSecrets"' in secret["Description"]
    body = json.dumps({k: v for k, v in template.items() if k not in META_KEYS})
    assert not STRIPE_KEY_PATTERN.search(body), STRIPE_KEY_PATTERN.search(body)


def test_stripe_settings_are_the_ones_the_code_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.kernel.settings import get_settings, reset_settings

    monkeypatch.setenv("GS_STRIPE_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:stripe-AbCdEf")
    monkeypatch.setenv("GS_STRIPE_API_BASE", "http://127.0.0.1:12111")
    reset_settings()
    try:
        assert get_settings().stripe_secret_arn == "arn:aws:secretsmanager:eu-west-1:1:secret:stripe-AbCdEf"
        assert get_settings().stripe_api_base == "http://127.0.0.1:12111"
    finally:
        monkeypatch.delenv("GS_STRIPE_SECRET_ARN")
        monkeypatch.delenv("GS_STRIPE_API_BASE")
        reset_settings()


def test_wallet_routes_are_deployed_and_only_the_webhook_is_public(template: dict[str, Any]) -> None:
    wallets = [r for r in deployed_routes() if r.context == "wallets"]
    assert {(r.method.upper(), _normalized(r.path)) for r in wallets} >= ISSUE_5_ROUTES
    methods = method_paths(template)
    fn = function_id(template, WALLETS)
    for route in wallets:
        method = methods[(route.method.upper(), route.path)]
        assert fn in referenced_ids(method["Integration"]["Uri"]), route.path
        if (route.method.upper(), route.path) == WEBHOOK:
            # Stripe signs the body; it has no bearer token. The signature is the authentication.
            assert not route.protected
            assert method["AuthorizationType"] == "NONE" and "AuthorizerId" not in method
        else:
            assert route.protected, route.path
            assert method["AuthorizationType"] == "CUSTOM", route.path


def test_money_alarms_watch_the_wallets_function_and_the_webhook(template: dict[str, Any]) -> None:
    from infra_cdk.constructs import wallets

    fn = function_id(template, WALLETS)
    alarms = {k: v["Properties"] for k, v in of_type(template, "AWS::CloudWatch::Alarm").items()}
    # the function failed (crash, timeout): API Gateway answered 502/504
    (errors,) = [a for a in alarms.values() if a.get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": fn}}]]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert errors["ComparisonOperator"] == "GreaterThanThreshold" and errors["Threshold"] == 0
    # a view raised (the API answered 500): counted from the function's own log group, by the message
    # gridshare.http.api logs then
    log_group = template["Resources"][fn]["Properties"]["LoggingConfig"]["LogGroup"]
    (metric_filter,) = [
        f["Properties"]
        for f in of_type(template, "AWS::Logs::MetricFilter").values()
        if f["Properties"]["LogGroupName"] == log_group
    ]
    source = (REPO / "layers" / "gridshare" / "gridshare" / "http" / "api.py").read_text()
    assert f'logger.exception("{wallets.UNHANDLED_ERROR_LOG_TERM}' in source
    assert metric_filter["FilterPattern"] == f'"{wallets.UNHANDLED_ERROR_LOG_TERM}"'
    (transformation,) = metric_filter["MetricTransformations"]
    (unhandled,) = [
        a
        for a in alarms.values()
        if (a.get("Namespace"), a.get("MetricName"))
        == (transformation["MetricNamespace"], transformation["MetricName"])
    ]
    assert unhandled["Statistic"] == "Sum" and unhandled["Threshold"] == 0
    # the webhook answered 5xx (no credit posted), or keeps refusing deliveries (a wrong signing secret)
    (api_id,) = of_type(template, "AWS::ApiGateway::RestApi")
    (stage_id,) = of_type(template, "AWS::ApiGateway::Stage")
    api_name = template["Resources"][api_id]["Properties"]["Name"]
    webhook = {
        a["MetricName"]: a
        for a in alarms.values()
        if a.get("Namespace") == "AWS/ApiGateway"
        and {"Name": "Resource", "Value": WEBHOOK[1]} in a.get("Dimensions", [])
    }
    assert set(webhook) == {"5XXError", "4XXError"}
    for alarm in webhook.values():
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            "ApiName": api_name,
            "Stage": {"Ref": stage_id},
            "Method": WEBHOOK[0],
            "Resource": WEBHOOK[1],
        }
        assert alarm["TreatMissingData"] == "notBreaching"
    assert webhook["5XXError"]["Threshold"] == 0
    assert webhook["4XXError"]["Threshold"] == wallets.WEBHOOK_REFUSALS_THRESHOLD - 1
    # per-method metrics exist only with detailed metrics on the stage
    (stage,) = of_type(template, "AWS::ApiGateway::Stage").values()
    assert all(m.get("MetricsEnabled") for m in stage["Properties"]["MethodSettings"] if m["HttpMethod"] == "*")


# ------------------------------------------------------------------------------------------- functions
def test_functions_share_the_platform_defaults(template: dict[str, Any]) -> None:
    (layer_id,) = of_type(template, "AWS::Lambda::LayerVersion")
    log_groups = of_type(template, "AWS::Logs::LogGroup")
    for logical_id, fn in of_type(template, "AWS::Lambda::Function").items():
        props = fn["Properties"]
        assert props["Runtime"] in ("python3.11", "python3.12"), logical_id
        assert props["Architectures"] == ["arm64"], logical_id
        assert props["Layers"] == [{"Ref": layer_id}], logical_id
        assert props["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert props["MemorySize"] == constants.LAMBDA_MEMORY_MB, logical_id
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == constants.SERVICE_NAMESPACE
        assert variables["POWERTOOLS_SERVICE_NAME"] and variables["GS_STAGE"] == constants.DEFAULT_STAGE
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_groups[log_group]["Properties"]["RetentionInDays"] == constants.LOG_RETENTION_DAYS


def test_devices_function_gets_its_iot_settings(template: dict[str, Any]) -> None:
    env = template["Resources"][function_id(template, api_handler("devices"))]["Properties"]["Environment"]["Variables"]
    assert env["GS_CERT_ISSUER"] == "aws"
    assert env["GS_DEVICE_POLICY_NAME"] == resources.DEVICE_POLICY_NAME
    assert env["GS_MQTT_PORT"] == "8883"
    assert env["GS_MQTT_HOST"] == constants.IOT_ENDPOINT_PLACEHOLDER
    # commands are published through the same ATS endpoint's data plane (gridshare.devices.iot)
    assert env["GS_IOT_DATA_ENDPOINT"] == f"https://{constants.IOT_ENDPOINT_PLACEHOLDER}"
    assert "{{resolve:secretsmanager:" in render(env["GS_CURSOR_SECRET"])


def test_functions_with_protected_routes_know_the_user_pool(template: dict[str, Any]) -> None:
    protected = {r.context for r in deployed_routes() if r.protected}
    handlers = {api_handler(c) for c in protected} | {"functions.identity.authorizer.handler"}
    for handler in handlers:
        env = template["Resources"][function_id(template, handler)]["Properties"]["Environment"]["Variables"]
        assert "GS_USER_POOL_ID" in env and "GS_USER_POOL_CLIENT_ID" in env, handler


def test_layer_is_staged_with_real_files(template: dict[str, Any]) -> None:
    package = Path(template["__outdir__"]) / constants.LAYER_STAGING_DIR / "python" / "gridshare"
    schema = package / "schemas" / "telemetry-v1.schema.json"
    assert schema.is_file() and not schema.is_symlink()
    assert schema.read_bytes() == (REPO / "iot_rules" / "schemas" / "telemetry-v1.schema.json").read_bytes()
    assert not list(package.rglob("__pycache__"))
    functions = Path(template["__outdir__"]) / constants.FUNCTIONS_STAGING_DIR / "functions"
    assert (functions / "telemetry" / "ingest.py").is_file()


# ----------------------------------------------------------------------------------------- context flags
def test_cors_origins_add_unauthenticated_preflights(flagged: tuple[dict[str, Any], list[str]]) -> None:
    template, _ = flagged
    methods = method_paths(template)
    paths = {r.path for r in deployed_routes()}
    for path in paths:
        preflight = methods[("OPTIONS", path)]
        assert preflight["AuthorizationType"] == "NONE"
        origin = preflight["Integration"]["IntegrationResponses"][0]["ResponseParameters"][
            "method.response.header.Access-Control-Allow-Origin"
        ]
        assert origin == "'https://app.gridshare.dev'"
    # With one origin, API Gateway's own errors (401 from the authorizer) are readable by the browser too.
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in of_type(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    headers = responses["UNAUTHORIZED"]["ResponseParameters"]
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'https://app.gridshare.dev'"


def test_cors_origins_reach_every_api_function(
    template: dict[str, Any],
    flagged: tuple[dict[str, Any], list[str]],
) -> None:
    """gridshare.http.api answers with the allowed origin from GS_CORS_ORIGINS (comma-separated)."""
    contexts = {r.context for r in deployed_routes()}
    assert contexts >= {"platform", "identity", "devices", "telemetry", "wallets"}
    flagged_template, _ = flagged
    for context in contexts:
        handler = api_handler(context)
        env = flagged_template["Resources"][function_id(flagged_template, handler)]["Properties"]["Environment"]
        assert env["Variables"][CORS_ORIGINS_ENV] == "https://app.gridshare.dev", handler
        default_env = template["Resources"][function_id(template, handler)]["Properties"]["Environment"]
        assert CORS_ORIGINS_ENV not in default_env["Variables"], handler  # no origin configured: none allowed
    for handler in ("functions.identity.authorizer.handler", "functions.telemetry.ingest.handler"):
        env = flagged_template["Resources"][function_id(flagged_template, handler)]["Properties"]["Environment"]
        assert CORS_ORIGINS_ENV not in env["Variables"], handler


def test_cors_variable_is_the_one_the_code_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.kernel.settings import get_settings, reset_settings

    monkeypatch.setenv(CORS_ORIGINS_ENV, "https://a.example, https://b.example")
    reset_settings()
    try:
        assert get_settings().cors_origin_list == ["https://a.example", "https://b.example"]
    finally:
        monkeypatch.delenv(CORS_ORIGINS_ENV)
        reset_settings()


def test_timestream_is_off_by_default(template: dict[str, Any]) -> None:
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::Timestream::")]
    handlers = {f["Properties"]["Handler"] for f in of_type(template, "AWS::Lambda::Function").values()}
    assert resources.TIMESTREAM_SOURCE.handler not in handlers


def test_timestream_flag_builds_the_sink(flagged: tuple[dict[str, Any], list[str]]) -> None:
    """With `timestream=true`: a database and table with the configured retention, a rule sending
    ReadingsAccepted to the sink's queue (with a DLQ), and a sink function that may write only that table."""
    flagged_template, warnings = flagged
    (table_id, table), *more = of_type(flagged_template, "AWS::Timestream::Table").items()
    assert not more
    assert table["Properties"]["RetentionProperties"] == {
        "MemoryStoreRetentionPeriodInHours": "24",
        "MagneticStoreRetentionPeriodInDays": "365",
    }
    assert len(of_type(flagged_template, "AWS::Timestream::Database")) == 1
    queues = {k: v["Properties"] for k, v in of_type(flagged_template, "AWS::SQS::Queue").items()}
    rules = [r["Properties"] for r in of_type(flagged_template, "AWS::Events::Rule").values()]
    (rule,) = [
        r
        for r in rules
        if any(
            str(render(queues[t["Arn"]["Fn::GetAtt"][0]]["QueueName"])).endswith("-telemetry-timestream")
            for t in r["Targets"]
            if t["Arn"]["Fn::GetAtt"][0] in queues
        )
    ]
    assert rule["EventPattern"] == {"source": ["gridshare.telemetry"], "detail-type": ["ReadingsAccepted"]}
    (target,) = rule["Targets"]
    assert "RedrivePolicy" in queues[target["Arn"]["Fn::GetAtt"][0]]
    fn = function_id(flagged_template, resources.TIMESTREAM_SOURCE.handler)
    env = flagged_template["Resources"][fn]["Properties"]["Environment"]["Variables"]
    assert env["GS_TIMESTREAM_TABLE"] == "readings" and env["GS_TIMESTREAM_DATABASE"].endswith("-telemetry")
    statements = statements_of(flagged_template, fn)
    timestream_actions = {a for s in statements for a in as_list(s["Action"]) if a.startswith("timestream:")}
    assert timestream_actions == {"timestream:WriteRecords", "timestream:DescribeEndpoints"}
    (write,) = [s for s in statements if "timestream:WriteRecords" in as_list(s["Action"])]
    assert as_list(write["Resource"]) == [{"Fn::GetAtt": [table_id, "Arn"]}]
    assert not [s for s in statements if any(str(a).startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert not any("placeholder MQTT host" in w for w in warnings)  # iot_endpoint was given


# ------------------------------------------------------------------------------------------------ cfn-lint
def cfn_lint(template: dict[str, Any], directory: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint over each real template of the deployment (the parent and its nested stacks)."""
    paths = []
    for i, part in enumerate(template[STACKS_KEY]):
        paths.append(directory / f"gridshare-{i}.template.json")
        paths[-1].write_text(json.dumps(part, indent=1))
    binary = Path(sys.executable).with_name("cfn-lint")
    command = [str(binary)] if binary.exists() else [shutil.which("cfn-lint") or "cfn-lint"]
    return subprocess.run(
        [*command, "--format", "parseable", *map(str, paths)], capture_output=True, text=True, check=False
    )


def assert_no_lint_errors(result: subprocess.CompletedProcess[str]) -> None:
    if result.stdout.strip():
        print("cfn-lint findings (warnings are allowed):\n" + result.stdout)
    # Exit status is a bit mask: 2 errors, 4 warnings, 8 informational; anything else a failure to run.
    assert result.returncode & ~(4 | 8) == 0, result.stdout + result.stderr


@pytest.mark.heavy
def test_cfn_lint_finds_no_errors(template: dict[str, Any], tmp_path: Path) -> None:
    assert_no_lint_errors(cfn_lint(template, tmp_path))


@pytest.mark.heavy
def test_cfn_lint_finds_no_errors_with_flags_on(flagged: tuple[dict[str, Any], list[str]], tmp_path: Path) -> None:
    assert_no_lint_errors(cfn_lint(flagged[0], tmp_path))


def test_sites_function_reads_devices_and_rollups_and_writes_no_telemetry_or_wallet_table(
    template: dict[str, Any],
) -> None:
    """The sites function's grants beyond its own tables: read-only on the devices table and the telemetry
    rollups (no other telemetry table), and of the wallets' tables only the ledger and idempotency keys,
    the ledger's history append-only."""
    actions = table_actions(template, function_id(template, SITES))
    own = {m.Meta.logical_name for m in OWNERS["sites"]}
    assert {name for name in actions if name in own} == own
    assert access_level(actions[DeviceModel.Meta.logical_name]) == READ
    assert access_level(actions[RollupModel.Meta.logical_name]) == READ
    telemetry = {m.Meta.logical_name for m in OWNERS["telemetry"]}
    # the open hours are computed from raw readings on read (decision 0016): read-only too
    assert set(actions) & telemetry == {RollupModel.Meta.logical_name, RawReadingModel.Meta.logical_name}
    assert access_level(actions[RawReadingModel.Meta.logical_name]) == READ
    for history in (LedgerTransactionModel, LedgerEntryModel):
        assert actions[history.Meta.logical_name] & WRITE_ACTIONS == {"dynamodb:PutItem"}
    for name in (PaymentModel, WithdrawalModel, RefundModel, StripeEventModel, UserModel):
        assert name.Meta.logical_name not in actions


def test_devices_function_reads_sites_and_writes_only_the_site_devices_table(template: dict[str, Any]) -> None:
    """PATCH /v1/devices/{id} with siteId calls the sites service in-process (decision 0012): the devices
    function reads the sites table, reads and writes the site-devices table, and has no investment grant."""
    actions = table_actions(template, function_id(template, "functions.devices.lambda_app.app"))
    assert access_level(actions[SiteModel.Meta.logical_name]) == READ
    assert access_level(actions[SiteDeviceModel.Meta.logical_name]) == RW
    assert set(actions) & {m.Meta.logical_name for m in OWNERS["sites"]} == {
        SiteModel.Meta.logical_name,
        SiteDeviceModel.Meta.logical_name,
    }


COMMUNITIES = "functions.communities.lambda_app.app"


def test_communities_function_reads_users_sites_and_rollups_and_writes_only_its_own_tables(
    template: dict[str, Any],
) -> None:
    """Least privilege of the communities function (docs/decisions/0014-communities.md): read/write on its
    own two tables; of the users table GetItem on the table and Query on the keys-only email index, nothing
    else (no Scan, no BatchGetItem, no other index); the sites, site devices and rollups read only; no
    ledger, wallet, device or other telemetry table."""
    fn = function_id(template, COMMUNITIES)
    actions = table_actions(template, fn)
    own = {m.Meta.logical_name for m in OWNERS["communities"]}
    assert {name for name in actions if name in own} == own
    for name in own:
        assert access_level(actions[name]) == RW
    for model in (SiteModel, SiteDeviceModel, RollupModel, RawReadingModel, UserModel):
        assert access_level(actions[model.Meta.logical_name]) == READ, model
    assert set(actions) == own | {
        m.Meta.logical_name
        for m in (
            SiteModel,
            SiteDeviceModel,
            RollupModel,
            RawReadingModel,  # open hours computed from raw on read (decision 0016)
            UserModel,
            TokenRevocationModel,
            SecurityEventModel,
        )
    }
    users = table_ids(template)[UserModel.Meta.logical_name]
    for statement in statements_of(template, fn):
        if users not in referenced_ids(statement["Resource"]):
            continue
        assert set(as_list(statement["Action"])) in ({"dynamodb:GetItem"}, {"dynamodb:Query"}), statement
        if "dynamodb:Query" in as_list(statement["Action"]):
            assert "/index/by_email" in json.dumps(statement["Resource"]), statement
            assert "/index/*" not in json.dumps(statement["Resource"]), statement


def test_grid_intensity_comes_from_cdk_context_as_the_setting_the_code_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.kernel.settings import get_settings
    from infra_cdk.constructs.communities import GRID_INTENSITY_ENV, grid_intensity_environment

    assert grid_intensity_environment(None) == {}
    assert grid_intensity_environment("250") == {GRID_INTENSITY_ENV: "250"}
    for bad in ("-1", "2001", "x", "1.5"):
        with pytest.raises(ValueError):
            grid_intensity_environment(bad)
    monkeypatch.setenv(GRID_INTENSITY_ENV, "250")
    get_settings.cache_clear()
    try:
        assert get_settings().grid_intensity_g_per_kwh == 250
    finally:
        monkeypatch.delenv(GRID_INTENSITY_ENV)
        get_settings.cache_clear()


def test_the_default_deployment_leaves_the_grid_intensity_to_the_code(template: dict[str, Any]) -> None:
    env = template["Resources"][function_id(template, COMMUNITIES)]["Properties"]["Environment"]["Variables"]
    assert "GS_GRID_INTENSITY_G_PER_KWH" not in env


def test_only_the_functions_that_note_health_publish_status_events_on_the_default_bus(
    template: dict[str, Any],
) -> None:
    """Device status changes (decision 0012): events:PutEvents on the default bus, and only for the functions
    that make transitions (heartbeats, the offline schedule, telemetry ingest and its replaying API)."""
    publishers = {
        "functions.devices.heartbeats.handler",
        "functions.devices.offline_sweep.handler",
        "functions.telemetry.ingest.handler",
        api_handler("telemetry"),
        # and command state changes (CommandUpdated, docs/events.md): the API (a command never published fails),
        # the ack consumer and the expiry schedule
        api_handler("devices"),
        "functions.devices.command_acks.handler",
        "functions.devices.command_expiry.handler",
        # alert events (decision 0017), on the same default bus; ingest's grant covers ReadingsAccepted too
        api_handler("alerts"),
        "functions.notifications.websocket.handler",
        "functions.alerts.evaluator.handler",
        "functions.alerts.reminders.handler",
        # trades and order changes (TradeExecuted, OrderUpdated): the API (cancel, admin clear) and the schedule
        api_handler("market"),
        MARKET_CLEARING,
        # a run's end (SettlementCompleted, SettlementFailed, decision 0023)
        "functions.settlement.finalize.handler",
        "functions.settlement.mark_failed.handler",
    }
    for handler in EXPECTED_TABLES:
        statements = statements_of(template, function_id(template, handler))
        events = [s for s in statements if any(a.startswith("events:") for a in as_list(s["Action"]))]
        if handler not in publishers:
            assert events == [], handler
            continue
        assert [as_list(s["Action"]) for s in events] == [["events:PutEvents"]], handler
        resource = json.dumps(render(events[0]["Resource"]))
        assert resource.endswith('event-bus/default"') or "event-bus/default" in resource, (handler, resource)
        assert "*" not in resource.replace("${", ""), resource


def test_the_heartbeat_rule_forwards_only_the_thing_and_receipt_time(template: dict[str, Any]) -> None:
    from gridshare.kernel import resources

    (rule,) = [r for r in resources.topic_rules() if r["name"] == "gs_heartbeats_v1"]
    assert "topic(3) AS thing_name" in rule["sql"] and "FROM 'gs/v1/+/heartbeat'" in rule["sql"]
    assert "*" not in rule["sql"].split("FROM")[0]  # the payload is never forwarded


def test_the_stack_keeps_headroom_under_cloudformations_resource_limit(
    template: dict[str, Any], flagged: tuple[dict[str, Any], list[str]]
) -> None:
    """CloudFormation refuses a stack of more than 500 resources. Every route adds API Gateway methods and
    resources, so keep a margin for the contexts still to come (invoke permissions are one per function,
    infra_cdk/constructs/api.py); the REST API is a nested stack of its own (infra_cdk/stack.py)."""
    for part in (*template[STACKS_KEY], *flagged[0][STACKS_KEY]):
        assert len(part["Resources"]) <= 450, len(part["Resources"])
    permissions = of_type(template, "AWS::Lambda::Permission")
    functions = of_type(template, "AWS::Lambda::Function")
    assert len(permissions) <= 2 * len(functions), (len(permissions), len(functions))


def test_market_functions_reach_other_contexts_read_only_except_the_ledger(template: dict[str, Any]) -> None:
    """Least privilege of the market (docs/decisions/0019-market.md): the API function reads the sites,
    communities and members tables (an ASK's site, a community's members) and writes nothing of theirs;
    the clearing function touches its own tables and the ledger only; neither reaches payments,
    withdrawals, refunds, Stripe events or the Stripe secret."""
    api = table_actions(template, function_id(template, api_handler("market")))
    for model in (SiteModel, CommunityModel, MemberModel):
        assert access_level(api[model.Meta.logical_name]) == READ, model
    own = {m.Meta.logical_name for m in OWNERS["market"]}
    clearing = table_actions(template, function_id(template, MARKET_CLEARING))
    ledger = {m.Meta.logical_name for m in (LedgerTransactionModel, LedgerEntryModel, LedgerAccountModel)}
    assert set(clearing) == own | ledger
    for name in own:
        assert access_level(api[name]) == access_level(clearing[name]) == RW
    for model in (PaymentModel, WithdrawalModel, RefundModel, StripeEventModel):
        assert model.Meta.logical_name not in api and model.Meta.logical_name not in clearing
