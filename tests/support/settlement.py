"""Settlement runs in-process on moto: the real state machine file, the real handlers, real inputs.

`settlement_sfn` (a fixture, on top of `aws`) turns on moto's Step Functions interpreter and its in-process
Lambda (``execute_state_machine``, no Docker), creates the state machine as the local stack's provisioning
does (``state_machines/settlement.asl.json``, placeholders substituted as CDK's ``definition_substitutions``
would; the manifest bucket is the provisioned one), and routes its Lambda tasks to
``functions.settlement.*`` through the local stack's dispatcher. `Market` builds a small world through the
services: sites, meters (attached devices and their 15-minute rollups), investors, a community, orders,
clearing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from tests.support.waiting import wait_for

INTERVAL = 900_000
T0 = 1_796_292_000_000  # 2026-12-03T10:00:00Z


@pytest.fixture
def settlement_sfn(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The provisioned settlement state machine, executed by moto and running our handlers; yields its ARN."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config

    from gridshare.kernel.factory import reset_services
    from gridshare.kernel.settings import reset_settings
    from gridshare_local.lambda_runtime import install_lambda_dispatcher
    from gridshare_local.provision import SETTLEMENT_FUNCTIONS, settlement_definition

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", LambdaSimpleBackend.invoke)  # restored after the test
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})  # type: ignore[misc]
    monkeypatch.setitem(default_user_config, "lambda", {"use_docker": False})  # type: ignore[misc]
    install_lambda_dispatcher(SETTLEMENT_FUNCTIONS)
    # With execute_state_machine on, moto serves Step Functions from its interpreter's backend, which does not
    # hold what provisioning created: the same definition is created there.
    arn = boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
        name="gridshare-settlement",
        definition=settlement_definition("us-east-1"),
        roleArn="arn:aws:iam::123456789012:role/gridshare-settlement",
        type="STANDARD",
    )["stateMachineArn"]
    monkeypatch.setenv("GS_SETTLEMENT_STATE_MACHINE_ARN", arn)
    # moto's DynamoDB is not safe under concurrent conditional writes (FIELD-NOTES): one shard at a time
    monkeypatch.setenv("GS_SETTLEMENT_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("GS_SETTLEMENT_SHARD_SITES", "2")
    # The meters' 15-minute rollups are written as stored items (put_rollup), which the telemetry service
    # reads on its stored-rollup path; readings through ingest and the rollup job are the e2e test's.
    monkeypatch.setenv("GS_TELEMETRY_WRITE_PATH", "transaction")
    reset_settings()
    reset_services()
    yield arn
    reset_services()


def finished(execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    client = boto3.client("stepfunctions", region_name="us-east-1")

    def done() -> dict[str, Any] | None:
        described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
        return described if described["status"] != "RUNNING" else None

    return wait_for(done, what=f"{execution_arn} finished", timeout=timeout, interval=0.05)


def caller(user_id: str, role: str = "prosumer") -> Any:
    from gridshare.kernel.roles import Caller

    return Caller(user_id, user_id, role, (role,), 0, "tests")


def fund(user_id: str, amount: int) -> None:
    """Money in the user's wallet, as a Stripe top-up posts it."""
    from gridshare.ledger import core as L
    from gridshare.ledger.store import LedgerStore

    LedgerStore().post(L.topup(f"topup:test-{user_id}-{amount}", user_id, amount, "EUR"))


def put_rollup(device_id: str, bucket: int, export_wh: int = 0, import_wh: int = 0) -> None:
    """A device's 15-minute rollup with its counters' interval energy (what ingest's ADDs leave)."""
    from gridshare.telemetry.models import RollupModel

    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=RollupModel.Meta.table_name,
        Item={
            "pk": {"S": f"{device_id}#15m"},
            "bucket": {"N": str(bucket)},
            "n": {"N": "15"},
            "e_energy_export_wh": {"N": str(export_wh)},
            "e_energy_import_wh": {"N": str(import_wh)},
        },
    )


@dataclass
class Market:
    """A small world made through the services."""

    sites: dict[str, str] = field(default_factory=dict)  # name -> site id

    def site(self, name: str, owner: str, *, feed_in: int = 6, role: str = "production") -> str:
        from gridshare.kernel.clock import now_ms
        from gridshare.sites.service import sites_service
        from gridshare.sites.store import SiteStore

        fields = {
            "name": name,
            "kind": "solar",
            "capacity_kw": 40,
            "panels": None,
            "location": {"lat": 48.1, "lon": 11.6},
            "timezone": "Europe/Berlin",
            "tariff": {"currency": "EUR", "retailMinorPerKwh": 30, "feedInMinorPerKwh": feed_in},
        }
        site_id = str(sites_service().create(caller(owner), fields)["id"])
        SiteStore().attach(site_id, f"meter-{name}", role, now_ms())
        self.sites[name] = site_id
        return site_id

    def invest(self, investor: str, site: str, amount: int) -> None:
        from gridshare.http.idempotency import RequestIds
        from gridshare.sites.service import sites_service

        fund(investor, amount)
        sites_service().invest(caller(investor, "investor"), self.sites[site], amount, "EUR", RequestIds())

    def community(self, referent: str, price: int, members: dict[str, str]) -> str:
        """A pro-rata community; ``members``: user id -> site name (real members, written as the service
        stores them)."""
        from gridshare.communities.models import MemberModel
        from gridshare.communities.service import communities_service
        from gridshare.kernel.clock import now_ms
        from gridshare.kernel.ids import new_id

        fields = {
            "name": "Valley",
            "description": "",
            "boundary": None,
            "sharing": {"rule": "pro_rata", "priceMinorPerKwh": price, "currency": "EUR"},
        }
        community_id = str(communities_service().create(caller(referent, "admin"), fields)["id"])
        for user_id, site in members.items():
            at = now_ms()
            MemberModel(
                community_id=community_id,
                id=new_id(),
                user_id=user_id,
                member_type="prosumer",
                user_type="real",
                site_id=self.sites[site],
                joined_at=at,
                updated_at=at,
            ).save()
        return community_id

    def order(self, user_id: str, side: str, interval: int, wh: int, price: int, site: str | None) -> dict[str, Any]:
        from gridshare.http.idempotency import RequestIds
        from gridshare.market.rules import interval_iso
        from gridshare.market.service import market_service

        fields = {
            "side": side,
            "interval": interval_iso(interval),
            "energy_wh": wh,
            "limit_price_minor_per_kwh": price,
            "currency": None,
            "site_id": self.sites[site] if site else None,
            "community_id": None,
        }
        return market_service().orders.place(caller(user_id), fields, RequestIds())

    @staticmethod
    def clear(interval: int) -> None:
        from gridshare.market.service import market_service

        market_service().clearing.clear_interval(interval)


def ledger_snapshot() -> dict[str, str]:
    """Transaction id -> body hash, of every transaction in the ledger."""
    from gridshare.ledger.models import LedgerTransactionModel
    from gridshare.ledger.store import LedgerStore

    store = LedgerStore()
    out = {}
    for item in LedgerTransactionModel.scan(consistent_read=True):
        tx = store.transaction(item.id)
        assert tx is not None
        out[tx.id] = tx.body_hash()
    return out


def run_to_end(start: int, end: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a run through the service (as the API does) and wait for its execution: (execution, run)."""
    from gridshare.settlement.service import settlement_service

    started = settlement_service().start(start, end, trigger="admin", requested_by="admin-1")
    described = finished(started["executionArn"])
    return described, settlement_service().get(started["id"])


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
