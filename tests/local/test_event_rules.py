"""resources.EVENT_RULES provisioned on moto: a published domain event reaches the subscriber's queue (the
rule as CDK synthesizes it: tests/infra/test_event_rules_cdk.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from gridshare.kernel import resources
from tests.support.event_rules import SPEC


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
