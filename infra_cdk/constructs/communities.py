"""Communities context: the communities and community-members tables, and the communities API function.

Its code reaches other contexts through their services (docs/decisions/0014-communities.md), so its
function has a grant on each table those services read for it, read only:

- the users table, narrower still: `dynamodb:GetItem` on the table and `dynamodb:Query` on its `by_email`
  index (keys only), nothing else (`IdentityService.get_user` / `find_by_email`: a member by id or email);
- the sites and site-devices tables (`SitesService.locate` / `energy_in`: a member's site, its location
  and its meters);
- the telemetry rollups (the meters' counter energy, through `TelemetryService.energy_buckets`).

Nothing of theirs is written; no ledger, no idempotency keys (no route takes an `Idempotency-Key`).

The grid's carbon intensity (gCO2/kWh, "CO2 avoided") is the CDK context `gridIntensityGPerKwh` when given
(`-c gridIntensityGPerKwh=250`), passed as GS_GRID_INTENSITY_G_PER_KWH; else the code's default (settings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from gridshare.communities.models import CommunityModel, MemberModel
from gridshare.contexts import owned_tables
from gridshare.identity.models import UserModel
from gridshare.sites.models import SiteDeviceModel, SiteModel
from gridshare.telemetry.models import RawReadingModel, RollupModel
from infra_cdk import constants
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "communities"

API_TABLES = {
    CommunityModel: Access.READ_WRITE,
    MemberModel: Access.READ_WRITE,
    SiteModel: Access.READ,
    SiteDeviceModel: Access.READ,
    RollupModel: Access.READ,
    RawReadingModel: Access.READ,  # the open hours, computed from raw readings on read (decision 0016)
}

CTX_GRID_INTENSITY = "gridIntensityGPerKwh"
GRID_INTENSITY_ENV = "GS_GRID_INTENSITY_G_PER_KWH"
USER_LOOKUP_ACTIONS = ("dynamodb:GetItem",)


def grid_intensity_environment(value: Any) -> dict[str, str]:
    """GS_GRID_INTENSITY_G_PER_KWH from the CDK context value (None: not set, the code's default)."""
    if value is None:
        return {}
    text = str(value).strip()
    if not text.isdigit() or not 0 <= int(text) <= 2_000:
        raise ValueError(f"CDK context '{CTX_GRID_INTENSITY}' must be an integer 0..2000 (gCO2/kWh), not {value!r}")
    return {GRID_INTENSITY_ENV: str(int(text))}


USERS_BY_EMAIL = UserModel.by_email.Meta.index_name


class CommunitiesContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables = tables_for(self, owned_tables(CONTEXT))
        others: dict[str, dynamodb.Table] = {}
        for context in ("identity", "telemetry", "sites"):
            others.update(built[context].tables)  # type: ignore[attr-defined]
        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="communities-api",
            description="Communities: members, sharing rules, the energy shared inside a community",
            environment={
                **runtime.cursor_secret_environment(),
                **grid_intensity_environment(self.node.try_get_context(CTX_GRID_INTENSITY)),
            },
        )
        grant_table_access(self.api_function, {**self.tables, **others}, API_TABLES)
        users = others[UserModel.Meta.logical_name]
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(actions=list(USER_LOOKUP_ACTIONS), resources=[users.table_arn])
        )
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:Query"], resources=[f"{users.table_arn}/index/{USERS_BY_EMAIL}"])
        )
        self.api_function.add_environment(constants.table_env_var(UserModel.Meta.logical_name), users.table_name)


CONSTRUCT = CommunitiesContext
