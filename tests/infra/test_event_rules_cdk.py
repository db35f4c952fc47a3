"""resources.EVENT_RULES synthesized by CDK: an EventBridge rule with the subscriber's queue as its target
(the same rule provisioned on moto: tests/local/test_event_rules.py)."""

from __future__ import annotations

import pytest

from gridshare.kernel import resources
from tests.support.event_rules import SPEC


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
