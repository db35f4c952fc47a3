"""The optional Timestream sink on moto: a ReadingsAccepted event reaches the sink's queue through the
provisioned rule, and the sink writes one multi-measure record per reading, read back from moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gridshare_local.lambda_runtime import LambdaContext

READINGS = [
    {
        "deviceId": f"dev-{i}",
        "ownerId": "user-1",
        "deviceType": "smart_meter",
        "siteId": None if i % 2 else "site-1",
        "ts": f"2026-12-02T10:{i:02d}:00Z",
        "metrics": {"power_w": 100 * i, "energy_import_wh": 1000 + i},
    }
    for i in range(3)
]


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:telemetry-timestream",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def test_readings_accepted_become_timestream_records(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.timestreamwrite.models import timestreamwrite_backends

    from gridshare.kernel import resources
    from gridshare.kernel.aws import reset_clients
    from gridshare.kernel.settings import reset_settings
    from gridshare_local.provision import provision_timestream

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName=resources.TIMESTREAM_QUEUE.name)["QueueUrl"]
        env = provision_timestream("us-east-1", {resources.TIMESTREAM_QUEUE.name: url})
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_settings()
        reset_clients()
        boto3.client("events", region_name="us-east-1").put_events(
            Entries=[
                {
                    "Source": "gridshare.telemetry",
                    "DetailType": "ReadingsAccepted",
                    "Detail": json.dumps({"readings": READINGS}),
                }
            ]
        )
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        from functions.telemetry.timestream_sink import handler

        result = handler(sqs_event(messages), LambdaContext("timestream-sink"))
        table = timestreamwrite_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].databases[env["GS_TIMESTREAM_DATABASE"]]
        records = table.tables[env["GS_TIMESTREAM_TABLE"]].records
    reset_settings()
    reset_clients()
    assert result == {"batchItemFailures": []}
    assert len(records) == 3
    by_thing = {next(d["Value"] for d in r["Dimensions"] if d["Name"] == "thing"): r for r in records}
    assert sorted(by_thing) == ["dev-0", "dev-1", "dev-2"]
    assert {d["Name"] for d in by_thing["dev-0"]["Dimensions"]} == {"thing", "owner", "site"}
    assert {d["Name"] for d in by_thing["dev-1"]["Dimensions"]} == {"thing", "owner"}
    assert {v["Name"]: v["Value"] for v in by_thing["dev-2"]["MeasureValues"]} == {
        "energy_import_wh": "1002.0",
        "power_w": "200.0",
    }


def test_an_event_breaking_the_contract_fails_its_message_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broken message is retried by SQS and then dead-lettered (alarmed); its neighbours are written."""
    from functions.telemetry.timestream_sink import handler

    bad = json.dumps({"detail": {"readings": [{"deviceId": "d", "ownerId": "u", "ts": "x", "metrics": {"a": 1}}]}})
    good = json.dumps({"detail": {"readings": READINGS[:1]}})
    event = sqs_event(
        [
            {"MessageId": "bad", "ReceiptHandle": "r1", "Body": bad, "MD5OfBody": "x"},
            {"MessageId": "good", "ReceiptHandle": "r2", "Body": good, "MD5OfBody": "y"},
        ]
    )
    with mock_aws():
        from gridshare.kernel.aws import reset_clients

        reset_clients()
        writer = boto3.client("timestream-write", region_name="us-east-1")
        writer.create_database(DatabaseName="gridshare")
        writer.create_table(DatabaseName="gridshare", TableName="readings")
        assert handler(event, LambdaContext("timestream-sink")) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    reset_clients()
