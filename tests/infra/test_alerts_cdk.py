"""The alerts context's infrastructure: its routes reach its function, the evaluator consumes the
alerts-events queue (DLQ, alarm) fed by the two EventBridge rules, the reminder schedule runs every minute,
and every alerts function publishes only on the default bus."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.test_cdk import (
    _normalized,
    as_list,
    deployed_routes,
    function_id,
    method_paths,
    of_type,
    referenced_ids,
    render,
    statements_of,
)

API = "functions.alerts.lambda_app.app"
EVALUATOR = "functions.alerts.evaluator.handler"
REMINDERS = "functions.alerts.reminders.handler"
# The routes of the issue (an acceptance client outside this repo calls them); parameters compared as "{}".
ALERT_ROUTES = {
    ("POST", "/v1/alert-rules"),
    ("GET", "/v1/alert-rules"),
    ("GET", "/v1/alert-rules/{}"),
    ("PATCH", "/v1/alert-rules/{}"),
    ("DELETE", "/v1/alert-rules/{}"),
    ("POST", "/v1/alert-rules/{}/test"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/alerts/{}"),
    ("POST", "/v1/alerts/{}/acknowledge"),
    ("POST", "/v1/alerts/{}/resolve"),
}


def test_alert_routes_are_deployed_protected_and_reach_the_alerts_function(template: dict[str, Any]) -> None:
    routes = [r for r in deployed_routes() if r.context == "alerts"]
    assert {(r.method.upper(), _normalized(r.path)) for r in routes} == ALERT_ROUTES
    methods = method_paths(template)
    fn = function_id(template, API)
    for route in routes:
        method = methods[(route.method.upper(), route.path)]
        assert fn in referenced_ids(method["Integration"]["Uri"]), route.path
        assert route.protected and method["AuthorizationType"] == "CUSTOM", route.path


def test_the_evaluator_consumes_alerts_events_with_a_dlq_and_an_alarm(template: dict[str, Any]) -> None:
    queues = of_type(template, "AWS::SQS::Queue")
    (main_id,) = [k for k, q in queues.items() if str(render(q["Properties"]["QueueName"])).endswith("-alerts-events")]
    (dlq_id,) = [
        k for k, q in queues.items() if str(render(q["Properties"]["QueueName"])).endswith("-alerts-events-dlq")
    ]
    assert dlq_id in referenced_ids(queues[main_id]["Properties"]["RedrivePolicy"])
    mappings = of_type(template, "AWS::Lambda::EventSourceMapping").values()
    (mapping,) = [m for m in mappings if main_id in referenced_ids(m["Properties"]["EventSourceArn"])]
    assert function_id(template, EVALUATOR) in referenced_ids(mapping["Properties"]["FunctionName"])
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()
    assert any(
        dlq_id in referenced_ids(d.get("Value")) for a in alarms for d in a["Properties"].get("Dimensions", [])
    ), "no alarm on the DLQ"


def test_the_event_rules_route_readings_and_status_changes_to_the_queue(template: dict[str, Any]) -> None:
    queues = of_type(template, "AWS::SQS::Queue")
    (main_id,) = [k for k, q in queues.items() if str(render(q["Properties"]["QueueName"])).endswith("-alerts-events")]
    patterns = {
        json.dumps(r["Properties"]["EventPattern"], sort_keys=True)
        for r in of_type(template, "AWS::Events::Rule").values()
        if any(main_id in referenced_ids(t["Arn"]) for t in r["Properties"]["Targets"])
    }
    assert patterns == {
        json.dumps({"source": ["gridshare.telemetry"], "detail-type": ["ReadingsAccepted"]}, sort_keys=True),
        json.dumps({"source": ["gridshare.devices"], "detail-type": ["DeviceStatusChanged"]}, sort_keys=True),
    }


def test_the_reminder_schedule_runs_every_minute(template: dict[str, Any]) -> None:
    schedules = [
        s
        for s in of_type(template, "AWS::Scheduler::Schedule").values()
        if function_id(template, REMINDERS) in referenced_ids(s["Properties"]["Target"]["Arn"])
    ]
    assert [s["Properties"]["ScheduleExpression"] for s in schedules] == ["rate(1 minute)"]


def test_alerts_functions_put_events_on_the_default_bus_only(template: dict[str, Any]) -> None:
    for handler in (API, EVALUATOR, REMINDERS):
        statements = [
            s
            for s in statements_of(template, function_id(template, handler))
            if any(a.startswith("events:") for a in as_list(s["Action"]))
        ]
        assert [as_list(s["Action"]) for s in statements] == [["events:PutEvents"]], handler
        assert "event-bus/default" in json.dumps(render(statements[0]["Resource"])), handler
