"""The Lambda entries of a settlement run's tasks (state_machines/settlement.asl.json) and its schedule.

Each is a few lines: the event as the state machine passes it -> the run's step -> what the next state
reads. An exception fails the task (the state machine retries SettleShard, and catches into MarkFailed).
"""

from __future__ import annotations

import logging
from typing import Any

from gridshare.kernel.observability import lambda_request_id, observed
from gridshare.settlement.service import settlement_service

logger = logging.getLogger("gridshare.settlement.handlers")


@observed(correlation_id=lambda_request_id)
def prepare(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return settlement_service().runs.prepare(event)


@observed(correlation_id=lambda_request_id)
def settle_shard(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return settlement_service().runs.settle_shard(event)


@observed(correlation_id=lambda_request_id)
def finalize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return settlement_service().runs.finalize(event)


@observed(correlation_id=lambda_request_id)
def mark_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return settlement_service().runs.mark_failed(event)


@observed(correlation_id=lambda_request_id)
def scheduler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The settlement-runs schedule; its input is ignored ("now" is the kernel clock's)."""
    run = settlement_service().tick()
    if run is not None:
        logger.info("settlement run started", extra={"runId": run["id"], "from": run["from"], "to": run["to"]})
    return {"run": run["id"] if run else None}
