"""The notifications context's infrastructure (docs/decisions/0018-notifications.md): the WebSocket API and its
routes, the event rules feeding its queues, the push/email/SMS grants scoped as narrowly as the services allow."""

from __future__ import annotations

from typing import Any

import pytest

from gridshare.kernel import resources
from infra_cdk.app import build_app
from infra_cdk.constructs.notifications import CTX_PUSH_APNS, CTX_PUSH_FCM, WEBSOCKET_HANDLER
from tests.infra.templates import templates_of
from tests.infra.test_cdk import (
    as_list,
    function_id,
    of_type,
    referenced_ids,
    render,
    statements_of,
)

NOTIFIER = "functions.notifications.notifier.handler"
SETTLEMENT = "functions.notifications.settlement.handler"
DELIVERIES = "functions.notifications.deliveries.handler"
LIVE = "functions.notifications.live.handler"
API = "functions.notifications.lambda_app.app"


def _actions(template: dict[str, Any], handler: str, prefix: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements_of(template, function_id(template, handler))
        if any(str(a).startswith(prefix) for a in as_list(s["Action"]))
    ]


def test_the_websocket_api_routes_connect_disconnect_and_default_to_the_handler(template: dict[str, Any]) -> None:
    (api_id,) = of_type(template, "AWS::ApiGatewayV2::Api")
    api = template["Resources"][api_id]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET" and api["RouteSelectionExpression"] == "$request.body.action"
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in of_type(template, "AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    handler = function_id(template, WEBSOCKET_HANDLER)
    for route in routes.values():
        integration = template["Resources"][route["Target"]["Fn::Join"][1][1]["Ref"]]["Properties"]
        assert handler in referenced_ids(integration["IntegrationUri"])
        assert route.get("AuthorizationType", "NONE") == "NONE"  # $connect checks ?token= itself
    (stage,) = of_type(template, "AWS::ApiGatewayV2::Stage").values()
    assert (
        stage["Properties"]["AutoDeploy"] is True and stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"]
    )


@pytest.mark.parametrize("handler", [WEBSOCKET_HANDLER, DELIVERIES, LIVE])
def test_pushers_manage_connections_of_this_api_only(template: dict[str, Any], handler: str) -> None:
    (api_id,) = of_type(template, "AWS::ApiGatewayV2::Api")
    (statement,) = _actions(template, handler, "execute-api:")
    assert as_list(statement["Action"]) == ["execute-api:ManageConnections"]
    (resource,) = [render(r) for r in as_list(statement["Resource"])]
    assert "${" + api_id + "}" in resource and resource.endswith("/@connections/*")
    env = template["Resources"][function_id(template, handler)]["Properties"]["Environment"]["Variables"]
    assert api_id in referenced_ids(env["GS_WS_MANAGEMENT_ENDPOINT"])


def test_no_other_function_may_push(template: dict[str, Any]) -> None:
    for logical_id, function in of_type(template, "AWS::Lambda::Function").items():
        if function["Properties"]["Handler"] in (WEBSOCKET_HANDLER, DELIVERIES, LIVE):
            continue
        for statement in statements_of(template, logical_id):
            assert not any(str(a).startswith("execute-api:") for a in as_list(statement["Action"])), logical_id


def test_deliveries_send_email_from_the_platform_sender_sms_and_push(template: dict[str, Any]) -> None:
    (ses,) = _actions(template, DELIVERIES, "ses:")
    assert as_list(ses["Action"]) == ["ses:SendEmail"] and "ses:FromAddress" in ses["Condition"]["StringEquals"]
    (sns,) = _actions(template, DELIVERIES, "sns:")
    assert as_list(sns["Action"]) == ["sns:Publish"]  # SMS names a number, not a resource: "*"
    (cognito,) = _actions(template, DELIVERIES, "cognito-idp:")
    assert as_list(cognito["Action"]) == ["cognito-idp:AdminGetUser"]
    (operators,) = _actions(template, NOTIFIER, "cognito-idp:")
    assert as_list(operators["Action"]) == ["cognito-idp:ListUsersInGroup"]
    (admins,) = _actions(template, SETTLEMENT, "cognito-idp:")
    assert as_list(admins["Action"]) == ["cognito-idp:ListUsersInGroup"]
    pool = next(iter(of_type(template, "AWS::Cognito::UserPool")))
    assert cognito["Resource"] == operators["Resource"] == admins["Resource"] == {"Fn::GetAtt": [pool, "Arn"]}
    # The notifiers only queue deliveries, they send nothing themselves
    for notifier in (NOTIFIER, SETTLEMENT):
        assert _actions(template, notifier, "ses:") == [] and _actions(template, notifier, "sns:") == []
        sends = [s for s in _actions(template, notifier, "sqs:") if "sqs:SendMessage" in as_list(s["Action"])]
        assert len(sends) == 1


def test_the_api_creates_and_deletes_push_endpoints_only(template: dict[str, Any]) -> None:
    (sns,) = _actions(template, API, "sns:")
    assert sorted(as_list(sns["Action"])) == ["sns:CreatePlatformEndpoint", "sns:DeleteEndpoint"]
    assert all(":endpoint/*" in str(render(r)) for r in as_list(sns["Resource"]))
    assert _actions(template, API, "ses:") == [] and _actions(template, API, "execute-api:") == []


def test_platform_applications_come_from_context_never_the_template(tmp_path: Any) -> None:
    fcm = "arn:aws:sns:eu-west-1:123456789012:app/GCM/gridshare"
    apns = "arn:aws:sns:eu-west-1:123456789012:app/APNS/gridshare"
    app = build_app(outdir=str(tmp_path), context={CTX_PUSH_FCM: fcm, CTX_PUSH_APNS: apns})
    stack = app.node.children[0]
    synthesized, _ = templates_of(stack)
    assert of_type(synthesized, "AWS::SNS::PlatformApplication") == {}
    env = synthesized["Resources"][function_id(synthesized, API)]["Properties"]["Environment"]["Variables"]
    assert env["GS_PUSH_FCM_APPLICATION_ARN"] == fcm and env["GS_PUSH_APNS_APPLICATION_ARN"] == apns
    (sns,) = _actions(synthesized, API, "sns:")
    assert {fcm, apns} <= {str(r) for r in as_list(sns["Resource"])}


def test_event_rules_deliver_the_contracts_events_to_the_notifications_queues(template: dict[str, Any]) -> None:
    rules = {
        render(r["Properties"]["Description"]): r["Properties"] for r in of_type(template, "AWS::Events::Rule").values()
    }
    specs = [spec for spec in resources.EVENT_RULES if spec.context == "notifications"]
    assert {s.queue for s in specs} == {"notifications-events", "notifications-settlement", "notifications-live"}
    for spec in specs:
        (rule,) = [r for r in rules.values() if r["EventPattern"]["detail-type"] == list(spec.detail_types)]
        assert rule["EventPattern"]["source"] == list(spec.sources)
        assert rule["State"] == "ENABLED" if "State" in rule else True
    alert_rule = next(r for r in rules.values() if "AlertOpened" in r["EventPattern"]["detail-type"])
    assert alert_rule["EventPattern"]["detail-type"] == [
        "AlertOpened",
        "AlertUpdated",
        "AlertReminder",
        "AlertEscalated",
    ]


def test_the_sender_is_an_ses_identity_and_consumers_are_alarmed(template: dict[str, Any]) -> None:
    assert len(of_type(template, "AWS::SES::EmailIdentity")) == 1
    alarms = [a["Properties"].get("AlarmDescription", "") for a in of_type(template, "AWS::CloudWatch::Alarm").values()]
    for handler in (NOTIFIER, SETTLEMENT, DELIVERIES, LIVE):
        assert any(handler in description for description in alarms), handler


def test_settlement_events_have_their_own_queue_one_event_per_invocation(template: dict[str, Any]) -> None:
    # A SettlementCompleted names up to 500 parties: one per invocation, with time for them, apart from alerts
    fid = function_id(template, SETTLEMENT)
    assert template["Resources"][fid]["Properties"]["Timeout"] == 100
    (mapping,) = [
        m["Properties"]
        for m in of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": fid}
    ]
    assert mapping["BatchSize"] == 1
    assert "notificationssettlement" in str(mapping["EventSourceArn"]).replace("-", "").lower()
