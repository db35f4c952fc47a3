"""The market's pushes in the template (docs/market.md, "Pushes"): the functions that change orders and trades
may put events on the account's default bus and nowhere else, and the notifications-live rule takes the
market's TradeExecuted and OrderUpdated to the live consumer's queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra_cdk.routes import api_handler
from tests.infra.test_cdk import MARKET_CLEARING, as_list, function_id, of_type, render, statements_of


@pytest.mark.parametrize("handler", [api_handler("market"), MARKET_CLEARING])
def test_the_market_functions_may_put_events_on_the_default_bus_only(template: dict[str, Any], handler: str) -> None:
    statements = statements_of(template, function_id(template, handler))
    (grant,) = [s for s in statements if any(str(a).startswith("events:") for a in as_list(s["Action"]))]
    assert as_list(grant["Action"]) == ["events:PutEvents"] and grant["Effect"] == "Allow"
    assert grant.get("Sid") == "PublishMarketEvents"
    (resource,) = as_list(grant["Resource"])
    rendered = json.dumps(render(resource))
    assert "event-bus/default" in rendered and "*" not in rendered.replace("${", ""), rendered


def test_the_live_rule_routes_market_events_to_the_live_queue(template: dict[str, Any]) -> None:
    rules = [r["Properties"] for r in of_type(template, "AWS::Events::Rule").values()]
    (live,) = [r for r in rules if "TradeExecuted" in r["EventPattern"]["detail-type"]]
    assert "gridshare.market" in live["EventPattern"]["source"]
    assert "OrderUpdated" in live["EventPattern"]["detail-type"]
    assert "CommandUpdated" in live["EventPattern"]["detail-type"]  # the same rule and queue as the other live data
