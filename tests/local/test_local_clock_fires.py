"""The local clock fires a Scheduler schedule stored in moto and delivers its target input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3


def test_a_due_schedule_delivers_its_input_to_sqs(aws: dict[str, str]) -> None:
    from gridshare_local.clock import LocalClock

    # Given a schedule every 5 minutes that targets a queue
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="clock-target")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("scheduler").create_schedule(
        Name="mark-offline",
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": "arn:aws:iam::123456789012:role/scheduler", "Input": '{"job": "offline"}'},
    )
    now = [datetime(2026, 11, 24, 12, 0, tzinfo=UTC)]
    clock = LocalClock("us-east-1", invoke_lambda=lambda *_: None, now=lambda: now[0])

    # When the clock ticks before and after the period
    assert clock.tick() == []
    now[0] += timedelta(minutes=5)
    assert clock.tick() == ["default/mark-offline"]
    assert clock.tick() == []

    # Then exactly one message with the schedule's input arrived
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"]) for m in messages] == [{"job": "offline"}]
