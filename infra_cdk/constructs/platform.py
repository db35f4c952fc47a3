"""Platform context: the public health check and the OpenAPI document. No table, no AWS permission."""

from __future__ import annotations

from collections.abc import Mapping

from constructs import Construct

from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler

CONTEXT = "platform"


class PlatformContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="platform-api",
            description="Public routes: /health and /v1/openapi.json",
        )


CONSTRUCT = PlatformContext
