"""Market context: the orders, trades and intervals tables, the market API function, and the clearing
schedule with its function (docs/market.md, docs/decisions/0019-market.md).

Its code reaches other contexts through their services, so each function has a grant on the tables those
services touch for it, at the narrowest level:

- the ledger (BID reservations and their release through `WalletService.reservations`): transactions and
  entries read + PutItem only (append-only, as for the wallets function), account balances read/write (a
  post updates them under a condition) — what the sites function got for investments;
- the idempotency keys (`POST /v1/market/orders` honours `Idempotency-Key`), API function only;
- the sites table read only (`SitesService.locate`: an ASK's site, its owner and capacity), API only;
- the communities and members tables read only (`CommunitiesService.is_member`), API only.

The clearing function reads the orders and writes fills, trades and clearing records, and posts releases
to the ledger; it has no route, so no idempotency keys, sites or communities. Nothing else of wallets
(payments, withdrawals, refunds, Stripe events, the Stripe secret) is granted.

Both functions announce what they change on the account's default event bus (`events:PutEvents` there only,
gridshare.market.pushes): the API a cancelled order and the admin clear route's trades and orders, the
clearing schedule the trades and orders of each interval it clears.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from gridshare.communities.models import CommunityModel, MemberModel
from gridshare.contexts import owned_tables
from gridshare.http.idempotency import IdempotencyKeyModel
from gridshare.kernel import resources
from gridshare.ledger.models import LedgerAccountModel, LedgerEntryModel, LedgerTransactionModel
from gridshare.market.models import IntervalModel, OrderModel, TradeModel
from gridshare.sites.models import SiteModel
from infra_cdk import messaging
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "market"

LEDGER_TABLES = {
    LedgerTransactionModel: Access.READ_APPEND,
    LedgerEntryModel: Access.READ_APPEND,
    LedgerAccountModel: Access.READ_WRITE,
}
API_TABLES = {
    OrderModel: Access.READ_WRITE,
    TradeModel: Access.READ_WRITE,  # the admin clear route runs a clearing in-process
    IntervalModel: Access.READ_WRITE,
    **LEDGER_TABLES,
    IdempotencyKeyModel: Access.READ_WRITE,
    SiteModel: Access.READ,
    CommunityModel: Access.READ,
    MemberModel: Access.READ,
}
CLEARING_TABLES = {
    OrderModel: Access.READ_WRITE,
    TradeModel: Access.READ_WRITE,
    IntervalModel: Access.READ_WRITE,
    **LEDGER_TABLES,
}
SCHEDULE_TABLES = {"functions.market.clearing.handler": CLEARING_TABLES}
# Trades and order changes go on the bus as TradeExecuted / OrderUpdated (docs/events.md).
PUBLISHES_MARKET_EVENTS = {"functions.market.clearing.handler"}


class MarketContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        others: dict[str, dynamodb.Table] = {}
        for context in ("wallets", "sites", "communities"):
            others.update(built[context].tables)  # type: ignore[attr-defined]
        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="market-api",
            description="Market: orders per 15-minute interval, clearing, trades, market data",
            environment=runtime.cursor_secret_environment(),
        )
        grant_table_access(self.api_function, {**self.tables, **others}, API_TABLES)
        self.api_function.add_to_role_policy(market_event_statement(Stack.of(self)))  # cancel, admin clear
        self.scheduled = {
            spec.name: self._schedule(runtime, spec, others) for spec in resources.SCHEDULES if spec.context == CONTEXT
        }

    def _schedule(
        self, runtime: SharedRuntime, spec: resources.ScheduleSpec, others: Mapping[str, dynamodb.Table]
    ) -> scheduler.CfnSchedule:
        function, schedule = messaging.build_schedule(self, runtime, spec)
        grant_table_access(function, {**self.tables, **others}, SCHEDULE_TABLES[spec.handler])
        if spec.handler in PUBLISHES_MARKET_EVENTS:
            function.add_to_role_policy(market_event_statement(Stack.of(self)))
        return schedule


def market_event_statement(stack: Stack) -> iam.PolicyStatement:
    """Trades and order changes go to the account's default event bus (gridshare.market.pushes)."""
    return messaging.put_events_statement(stack, "PublishMarketEvents")


CONSTRUCT = MarketContext
