"""Sites context: the sites, site-devices and investments tables, and the sites API function.

Its code reaches other contexts through their services (docs/decisions/0010-sites-context.md), and so
its function needs a grant on each table those services read or write for it, at the narrowest level:

- the devices table, read only (`DeviceService.get_owned`: a device of the caller);
- the telemetry rollups, read only (`TelemetryService.energy_buckets`: the devices' counter energy);
- the ledger (through `wallets.service.record_investment` / `site_returns`): transactions and entries
  read + PutItem only (append-only, as for the wallets function), account balances read/write (a post
  updates them under a condition);
- the idempotency keys (the investment route honours `Idempotency-Key`).

The devices API function calls the sites service in-process (`PATCH /v1/devices/{id}` with `siteId`,
`GET /v1/devices/{id}`: decision 0012) and is built before this construct, so its grant is made here:
the sites table read only (`_changeable`: the site and its owner), the site-devices table read/write
(the attachment item: get, conditional put, conditional delete); nothing else of sites.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.devices.models import DeviceModel
from gridshare.http.idempotency import IdempotencyKeyModel
from gridshare.ledger.models import LedgerAccountModel, LedgerEntryModel, LedgerTransactionModel
from gridshare.sites.models import InvestmentModel, SiteDeviceModel, SiteModel
from gridshare.telemetry.models import RawReadingModel, RollupModel
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "sites"

API_TABLES = {
    SiteModel: Access.READ_WRITE,
    SiteDeviceModel: Access.READ_WRITE,
    InvestmentModel: Access.READ_WRITE,
    DeviceModel: Access.READ,
    RollupModel: Access.READ,
    RawReadingModel: Access.READ,  # the open hours, computed from raw readings on read (decision 0016)
    LedgerTransactionModel: Access.READ_APPEND,
    LedgerEntryModel: Access.READ_APPEND,
    LedgerAccountModel: Access.READ_WRITE,
    IdempotencyKeyModel: Access.READ_WRITE,
}

# What the devices API function's in-process calls to the sites service touch (place/unplace/placement).
DEVICES_API_TABLES = {SiteModel: Access.READ, SiteDeviceModel: Access.READ_WRITE}


class SitesContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        others: dict[str, dynamodb.Table] = {}
        for context in ("devices", "telemetry", "wallets"):
            others.update(built[context].tables)  # type: ignore[attr-defined]
        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="sites-api",
            description="Sites: plants, their devices and energy, investments and shares",
            environment=runtime.cursor_secret_environment(),
        )
        grant_table_access(self.api_function, {**self.tables, **others}, API_TABLES)
        grant_table_access(built["devices"].api_function, self.tables, DEVICES_API_TABLES)  # type: ignore[attr-defined]


CONSTRUCT = SitesContext
