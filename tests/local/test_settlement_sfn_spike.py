"""Spike (decision 0022): what moto 5.2.5's Step Functions interpreter runs of state_machines/settlement.asl.json.

The real definition file, its ``${...}`` placeholders substituted as CDK's ``definition_substitutions``
would, runs in-process on moto (``execute_state_machine``, no Docker Lambda): Lambda tasks reach our
handlers through the local stack's dispatcher (``gridshare_local.lambda_runtime.install_lambda_dispatcher``),
the Distributed Map reads its items with the S3 ``ItemReader`` from the manifest Prepare wrote, and
``MaxConcurrencyPath`` is read from Prepare's result. The handlers below are stand-ins that record what
they were given: the point is the state machine, not settlement.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
BUCKET = "gs-settlement-manifests"
CALLS: list[tuple[str, dict[str, Any]]] = []
FAULTS: dict[str, int] = {}
_LOCK = threading.Lock()
_SHARDS_MOVED = threading.Condition(_LOCK)  # a shard started or finished
HERE = __name__


def _record(name: str, event: dict[str, Any]) -> None:
    with _LOCK:
        CALLS.append((name, event))


def prepare(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _record("prepare", event)
    if event.get("failPrepare"):
        raise RuntimeError("no tariffs for the interval")
    shards = [{"shard": n, "parties": [f"u-{n}a", f"u-{n}b"]} for n in range(event.get("shards", 3))]
    key = f"runs/{event['runId']}/manifest.json"
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(shards))
    return {"runId": event["runId"], "manifestKey": key, "shards": len(shards), "maxConcurrency": 2}


ACTIVE = {"now": 0, "max": 0}


def settle_shard(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _record("settle_shard", event)
    with _SHARDS_MOVED:
        ACTIVE["now"] += 1
        ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])
        _SHARDS_MOVED.notify_all()
        # Stay busy until a second shard runs beside this one (the cap is 2), so that a map which ignored
        # its cap would show more than 2 at once; a map that runs one at a time lets it go after 0.1 s.
        _SHARDS_MOVED.wait_for(lambda: ACTIVE["now"] >= 2, timeout=0.1)
        ACTIVE["now"] -= 1
        _SHARDS_MOVED.notify_all()
    with _LOCK:
        left = FAULTS.get("settle_shard", 0)
        if left and event["shard"]["shard"] == 1:
            FAULTS["settle_shard"] = left - 1
            raise RuntimeError("injected fault mid-shard")
    _record("settle_shard_done", event)
    return {"shard": event["shard"]["shard"], "postings": 2}


def finalize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _record("finalize", event)
    if FAULTS.get("finalize_checks"):
        settled = {e["shard"]["shard"] for n, e in CALLS if n == "settle_shard_done"}
        missing = sorted(set(range(event["shards"])) - settled)
        if missing:
            raise RuntimeError(f"shards not settled: {missing}")
    return {"runId": event["runId"], "status": "settled"}


def mark_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _record("mark_failed", event)
    return {"status": "failed"}


FUNCTIONS = {
    "gs-settlement-prepare": f"{HERE}.prepare",
    "gs-settlement-shard": f"{HERE}.settle_shard",
    "gs-settlement-finalize": f"{HERE}.finalize",
    "gs-settlement-failed": f"{HERE}.mark_failed",
}


def definition() -> str:
    """The ASL file with the substitutions CDK makes (function ARNs, the manifest bucket)."""
    text = (REPO / "state_machines" / "settlement.asl.json").read_text()
    arn = "arn:aws:lambda:us-east-1:123456789012:function:"
    for placeholder, value in {
        "PrepareFunctionArn": arn + "gs-settlement-prepare",
        "SettleShardFunctionArn": arn + "gs-settlement-shard",
        "FinalizeFunctionArn": arn + "gs-settlement-finalize",
        "MarkFailedFunctionArn": arn + "gs-settlement-failed",
        "ManifestBucket": BUCKET,
    }.items():
        text = text.replace("${" + placeholder + "}", value)
    assert "${" not in text
    return text


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    from gridshare_local.lambda_runtime import install_lambda_dispatcher

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", LambdaSimpleBackend.invoke)  # restored after the test
    CALLS.clear()
    FAULTS.clear()
    ACTIVE.update(now=0, max=0)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        install_lambda_dispatcher(FUNCTIONS)
        dispatch = LambdaSimpleBackend.invoke

        def throttled(self: Any, function_name: str, *args: Any) -> Any:
            """The Lambda service refusing an invoke (429): a ClientError for the interpreter, not a
            function error, so the task fails with Lambda.TooManyRequestsException."""
            from moto.core.exceptions import JsonRESTError

            with _LOCK:
                if FAULTS.get("throttle", 0) and function_name.endswith("gs-settlement-shard"):
                    FAULTS["throttle"] -= 1
                    raise JsonRESTError("TooManyRequestsException", "Rate exceeded")
            return dispatch(self, function_name, *args)

        LambdaSimpleBackend.invoke = throttled  # type: ignore[method-assign]
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(
            name="gs-settlement",
            definition=definition(),
            roleArn="arn:aws:iam::123456789012:role/gs-settlement",
            type="STANDARD",
        )["stateMachineArn"]
        yield client, arn


def run(client: Any, arn: str, payload: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    execution = client.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = client.describe_execution(executionArn=execution)
        return described if described["status"] != "RUNNING" else None

    return wait_for(finished, what=f"{execution} finished", timeout=timeout, interval=0.05)


def calls(name: str) -> list[dict[str, Any]]:
    return [event for n, event in CALLS if n == name]


def test_distributed_map_reads_the_s3_manifest_and_runs_our_handlers(sfn: Any) -> None:
    client, arn = sfn
    described = run(client, arn, {"runId": "run-1", "from": 0, "to": 900_000, "shards": 3})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"runId": "run-1", "status": "settled"}
    assert [e["runId"] for e in calls("prepare")] == ["run-1"]
    shards = sorted((e["runId"], e["shard"]["shard"], tuple(e["shard"]["parties"])) for e in calls("settle_shard"))
    assert shards == [("run-1", n, (f"u-{n}a", f"u-{n}b")) for n in range(3)]
    assert calls("finalize") == [{"runId": "run-1", "shards": 3}]
    assert calls("mark_failed") == []


def test_a_shard_that_fails_once_is_retried_and_the_run_succeeds(sfn: Any) -> None:
    client, arn = sfn
    FAULTS["settle_shard"] = 1
    described = run(client, arn, {"runId": "run-2", "shards": 2})
    assert described["status"] == "SUCCEEDED", described
    assert sorted(e["shard"]["shard"] for e in calls("settle_shard")) == [0, 1, 1]
    assert calls("mark_failed") == []


def test_a_failing_prepare_is_caught_marked_failed_and_fails_the_execution(sfn: Any) -> None:
    client, arn = sfn
    described = run(client, arn, {"runId": "run-3", "failPrepare": True})
    assert described["status"] == "FAILED"
    assert described.get("error") == "SettlementFailed"
    (failed,) = calls("mark_failed")
    assert failed["input"]["runId"] == "run-3"
    assert failed["error"]["Error"] == "RuntimeError"
    assert "no tariffs" in failed["error"]["Cause"]
    assert failed["executionArn"] == described["executionArn"]
    assert calls("settle_shard") == [] and calls("finalize") == []


def test_max_concurrency_comes_from_prepare_and_throttling_is_retried(sfn: Any) -> None:
    client, arn = sfn
    FAULTS["throttle"] = 2
    described = run(client, arn, {"runId": "run-4", "shards": 6})
    assert described["status"] == "SUCCEEDED", described
    assert sorted(e["shard"]["shard"] for e in calls("settle_shard")) == list(range(6))
    assert FAULTS["throttle"] == 0
    assert ACTIVE["max"] <= 2  # MaxConcurrencyPath: Prepare said 2
    print("max concurrent shards:", ACTIVE["max"])


def test_moto_gap_a_shard_that_keeps_failing_does_not_fail_the_map_so_finalize_must_check(sfn: Any) -> None:
    """On AWS a child execution that fails after its retries fails the Distributed Map (no tolerated
    failures): States.ExceedToleratedFailureThreshold, caught -> MarkFailed. moto 5.2.5 ends the map run
    MapRunSucceeded and goes on (ToleratedFailure* "have no effect"), so Finalize is where a run must
    check that every shard of the manifest completed; here it does, fails, and the Catch marks the run."""
    client, arn = sfn
    FAULTS["settle_shard"] = 10
    FAULTS["finalize_checks"] = 1
    described = run(client, arn, {"runId": "run-5", "shards": 2})
    assert [e["shard"]["shard"] for e in calls("settle_shard")].count(1) == 3  # the first try and 2 retries
    assert len(calls("finalize")) == 1  # moto: the map "succeeded" although shard 1 never completed
    assert described["status"] == "FAILED"
    (failed,) = calls("mark_failed")
    assert failed["input"]["prepared"]["runId"] == "run-5"
    assert "shards not settled: [1]" in failed["error"]["Cause"]
