"""From an accepted reading to an alert through the real wiring on moto: telemetry ingest publishes
ReadingsAccepted (one PutEvents per batch), the alerts-readings rule on the default bus delivers it to the
alerts-events queue, and the evaluator Lambda consumes that queue's messages as its event source would."""

from __future__ import annotations

import json
from typing import Any

import boto3

from gridshare.alerts import handlers
from gridshare.kernel.clock import now_ms
from gridshare_local.lambda_runtime import LambdaContext
from tests.support.api import Api, register_user
from tests.support.devices import create_device, ingest


def _drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])


def _as_sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:alerts-events",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def test_an_ingested_leak_reaches_the_evaluator_and_opens_an_alert(api: Api, aws: dict[str, str]) -> None:
    # Given a gas sensor and the alerts-events queue the local provisioning subscribed to the readings
    token = register_user(api, "owner@example.com")["accessToken"]
    sensor = create_device(api, token, name="tank", type="gas_sensor")
    url = json.loads(aws["queue_urls"])["alerts-events"]
    # When the sensor's leak reading is ingested
    reading = {"ts": now_ms(), "seq": 1, "metrics": {"leak": True, "gas_level_pct": 55.5}}
    assert ingest(sensor["thingName"], json.dumps(reading)) == {"batchItemFailures": []}
    # Then ReadingsAccepted is on the alerts' queue, as the contract says
    messages = _drain(url)
    readings = [
        r
        for m in messages
        if json.loads(m["Body"])["detail-type"] == "ReadingsAccepted"
        for r in json.loads(m["Body"])["detail"]["readings"]
    ]
    assert readings == [
        {
            "deviceId": sensor["id"],
            "ownerId": sensor["ownerId"],
            "deviceType": "gas_sensor",
            "siteId": None,
            "ts": readings[0]["ts"],
            "metrics": {"leak": True, "gas_level_pct": 55.5},
        }
    ]
    # And the evaluator fed with those messages opens the critical leak alert
    assert handlers.evaluator_handler(_as_sqs_event(messages), LambdaContext("alerts-evaluator")) == {
        "batchItemFailures": []
    }
    alerts = json.loads(api.call("GET", "/v1/alerts?status=open", token=token).body)["data"]
    assert [(a["kind"], a["severity"], a["deviceId"]) for a in alerts] == [("leak", "critical", sensor["id"])]
