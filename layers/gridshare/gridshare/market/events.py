"""The Lambda entry of the market-clearing schedule (EventBridge Scheduler, every minute; the local clock
fires it on `gridshare clock advance`): clears every interval whose gate has closed since the last run."""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from gridshare.kernel.observability import lambda_request_id, metrics, observed
from gridshare.market.rules import interval_iso
from gridshare.market.service import market_service

logger = logging.getLogger("gridshare.market.events")


@observed(correlation_id=lambda_request_id)
def clearing_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduler's input is ignored: "now" is the kernel clock's."""
    cleared = market_service().clearing.clear_due()
    metrics().add_metric(name="IntervalsCleared", unit=MetricUnit.Count, value=len(cleared))
    if cleared:
        logger.info("intervals cleared", extra={"first": interval_iso(cleared[0]), "count": len(cleared)})
    return {"cleared": [interval_iso(i) for i in cleared]}
