"""The settlement run in the template (docs/settlement.md, decisions 0022 and 0023): the state machine is the
repository's file with its placeholders substituted, its role may invoke its four tasks, read the manifests
and run its own child executions and nothing else; only the API and the schedule may start runs; the
manifest bucket is private and encrypted; Prepare writes manifests, Finalize and MarkFailed publish."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridshare.kernel.resources import REPO_ROOT
from infra_cdk.routes import api_handler
from tests.infra.test_cdk import as_list, function_id, of_type, render, statements_of

TASKS = {
    "PrepareFunctionArn": "functions.settlement.prepare.handler",
    "SettleShardFunctionArn": "functions.settlement.settle_shard.handler",
    "FinalizeFunctionArn": "functions.settlement.finalize.handler",
    "MarkFailedFunctionArn": "functions.settlement.mark_failed.handler",
}
SCHEDULER = "functions.settlement.scheduler.handler"


def _state_machine(template: dict[str, Any]) -> dict[str, Any]:
    (machine,) = of_type(template, "AWS::StepFunctions::StateMachine").values()
    return dict(machine["Properties"])


def _actions(statements: list[dict[str, Any]], prefix: str) -> list[tuple[str, Any]]:
    return [
        (str(a), render(s["Resource"])) for s in statements for a in as_list(s["Action"]) if str(a).startswith(prefix)
    ]


def test_the_state_machine_is_the_repositorys_file_with_its_placeholders_filled(template: dict[str, Any]) -> None:
    machine = _state_machine(template)
    assert machine["StateMachineType"] == "STANDARD"
    # DefinitionBody.from_file: the file itself is the definition (an asset the deployment uploads as is)
    assert "DefinitionS3Location" in machine and "DefinitionString" not in machine
    asl = (REPO_ROOT / "state_machines" / "settlement.asl.json").read_text()
    assert json.loads(asl)["StartAt"] == "Prepare"
    substitutions = machine["DefinitionSubstitutions"]
    assert set(substitutions) == {*TASKS, "ManifestBucket"}
    for placeholder, handler in TASKS.items():
        assert "${" + placeholder + "}" in asl
        assert substitutions[placeholder] == {"Fn::GetAtt": [function_id(template, handler), "Arn"]}


def test_the_state_machines_role_invokes_its_tasks_reads_manifests_and_runs_its_children(
    template: dict[str, Any],
) -> None:
    role = _state_machine(template)["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"].get("Roles", [])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoked = {json.dumps(r) for a, r in _actions(statements, "lambda:") if a == "lambda:InvokeFunction"}
    tasks = {function_id(template, h) for h in TASKS.values()}
    assert invoked and all(any(t in r for t in tasks) for r in invoked), invoked
    assert all(a in ("lambda:InvokeFunction",) for a, _ in _actions(statements, "lambda:"))
    s3 = _actions(statements, "s3:")
    assert s3 and all(not a.startswith("s3:Put") and not a.startswith("s3:Delete") for a, _ in s3), s3
    states = _actions(statements, "states:")
    assert {a for a, _ in states} == {"states:StartExecution", "states:DescribeExecution", "states:StopExecution"}
    assert all("settlement" in json.dumps(r) for _, r in states), states
    assert not _actions(statements, "dynamodb:")


@pytest.mark.parametrize("handler", [api_handler("settlement"), SCHEDULER])
def test_only_the_api_and_the_schedule_start_runs(template: dict[str, Any], handler: str) -> None:
    (start,) = _actions(statements_of(template, function_id(template, handler)), "states:")
    assert start[0] == "states:StartExecution" and "stateMachine:gridshare-dev-settlement" in json.dumps(start[1])
    for other in TASKS.values():
        assert not _actions(statements_of(template, function_id(template, other)), "states:")


def test_prepare_writes_manifests_and_no_other_task_touches_the_bucket(template: dict[str, Any]) -> None:
    puts = _actions(statements_of(template, function_id(template, TASKS["PrepareFunctionArn"])), "s3:")
    assert puts and all(a.startswith("s3:PutObject") or a.startswith("s3:Abort") for a, _ in puts), puts
    assert all(json.dumps(r).endswith('/runs/*"') for _, r in puts), puts
    for handler in (TASKS["SettleShardFunctionArn"], TASKS["FinalizeFunctionArn"], TASKS["MarkFailedFunctionArn"]):
        assert not _actions(statements_of(template, function_id(template, handler)), "s3:")


@pytest.mark.parametrize("placeholder", ["FinalizeFunctionArn", "MarkFailedFunctionArn"])
def test_finalize_and_mark_failed_publish_on_the_default_bus_only(template: dict[str, Any], placeholder: str) -> None:
    (publish,) = _actions(statements_of(template, function_id(template, TASKS[placeholder])), "events:")
    assert publish[0] == "events:PutEvents" and "event-bus/default" in json.dumps(publish[1])


def test_the_manifest_bucket_is_private_encrypted_and_expires_manifests(template: dict[str, Any]) -> None:
    machine = _state_machine(template)
    bucket_id = machine["DefinitionSubstitutions"]["ManifestBucket"]["Ref"]
    bucket = template["Resources"][bucket_id]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "runs/" and rule["ExpirationInDays"] > 0
    policies = [
        p
        for p in of_type(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (policy,) = policies
    assert any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_the_tasks_know_the_bucket_and_the_api_the_state_machine(template: dict[str, Any]) -> None:
    env = template["Resources"][function_id(template, TASKS["PrepareFunctionArn"])]["Properties"]["Environment"]
    assert "GS_SETTLEMENT_BUCKET" in env["Variables"]
    api_env = template["Resources"][function_id(template, api_handler("settlement"))]["Properties"]["Environment"]
    assert "stateMachine:gridshare-dev-settlement" in json.dumps(
        render(api_env["Variables"]["GS_SETTLEMENT_STATE_MACHINE_ARN"])
    )
