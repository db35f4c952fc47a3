"""resources.EVENT_RULES: provisioned on moto, a published domain event reaches the subscriber's queue;
synthesized by CDK as an EventBridge rule with the queue as its target."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from gridshare.kernel import resources

SPEC = resources.EventRuleSpec(
    name="test-device-status",
    context="devices",
    sources=("gridshare.devices",),
    detail_types=("DeviceStatusChanged",),
    queue="device-heartbeats",
)


def test_provisioned_rule_delivers_matching_events_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare_local.provision import provision_event_rules

    monkeypatch.setattr(resources, "EVENT_RULES", (SPEC,))
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName=SPEC.queue)["QueueUrl"]
        provision_event_rules("us-east-1", {SPEC.queue: url})
        boto3.client("events", region_name="us-east-1").put_events(
            Entries=[
                {"Source": "gridshare.devices", "DetailType": "DeviceStatusChanged", "Detail": '{"deviceId": "d1"}'},
                {"Source": "gridshare.devices", "DetailType": "CommandUpdated", "Detail": '{"deviceId": "d2"}'},
                {"Source": "gridshare.market", "DetailType": "DeviceStatusChanged", "Detail": '{"deviceId": "d3"}'},
            ]
        )
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["detail"] for m in got] == [{"deviceId": "d1"}]


@pytest.mark.heavy
def test_cdk_rule_targets_the_subscriber_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_cdk import App, Stack
    from aws_cdk.assertions import Match, Template

    from infra_cdk import messaging

    monkeypatch.setattr(resources, "EVENT_RULES", (SPEC,))
    stack = Stack(App(), "EventRules")
    queues = messaging.build_queues(stack, "devices")
    messaging.build_event_rules(stack, "devices", queues)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {"source": ["gridshare.devices"], "detail-type": ["DeviceStatusChanged"]},
            "Targets": [Match.object_like({"Arn": Match.any_value()})],
        },
    )
    # The target's queue policy lets EventBridge send, and only for this rule.
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Action": Match.array_with(["sqs:SendMessage"]),
                                    "Principal": {"Service": "events.amazonaws.com"},
                                    "Condition": {"ArnEquals": Match.any_value()},
                                }
                            )
                        ]
                    )
                }
            )
        },
    )
    with pytest.raises(ValueError, match="not a queue of devices"):
        monkeypatch.setattr(resources, "EVENT_RULES", (SPEC.__class__(**{**SPEC.__dict__, "queue": "nope"}),))
        messaging.build_event_rules(Stack(App(), "Other"), "devices", queues)
