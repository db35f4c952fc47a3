"""Tiered telemetry retention in the template (decision 0024): the raw table expires by TTL, the archive
bucket is private, encrypted and TLS-only and outlives the stack, only the archive job may write it (and only
under raw/), only the readings API may read it (GetObject under raw/, for a raw history past the retention),
every function that stores readings runs with the retention the deployment chose, and a retention the archive
could not keep up with does not synthesize."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from gridshare.kernel import resources
from gridshare.telemetry.models import ArchivedDayModel, RawReadingModel, RollupModel
from gridshare.telemetry.retention import BUCKET_ENV, PREFIX, RETENTION_ENV
from infra_cdk import constants
from infra_cdk.routes import api_handler
from infra_cdk.settings import DeploySettings
from tests.infra.test_cdk import as_list, function_id, of_type, render, statements_of, table_ids

ARCHIVE_JOB = "functions.telemetry.archive_job.handler"
ROLLUP_JOB = "functions.telemetry.rollup_job.handler"
INGEST = "functions.telemetry.ingest.handler"


def _bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The archive bucket: the one whose name the archive job is given (settlement has a bucket too)."""
    logical_id = _env(template, ARCHIVE_JOB)[BUCKET_ENV]["Ref"]
    return logical_id, of_type(template, "AWS::S3::Bucket")[logical_id]


def _env(template: dict[str, Any], handler: str) -> dict[str, Any]:
    variables: dict[str, Any] = template["Resources"][function_id(template, handler)]["Properties"]["Environment"][
        "Variables"
    ]
    return variables


def test_the_raw_table_expires_by_ttl_and_the_rollups_and_archive_records_do_not(template: dict[str, Any]) -> None:
    ids = table_ids(template)

    def ttl(model: Any) -> Any:
        return template["Resources"][ids[model.Meta.logical_name]]["Properties"].get("TimeToLiveSpecification")

    assert ttl(RawReadingModel) == {"AttributeName": "expires_at", "Enabled": True}
    assert ttl(RollupModel) is None
    assert ttl(ArchivedDayModel) is None


def test_the_archive_bucket_is_private_encrypted_tls_only_and_retained(template: dict[str, Any]) -> None:
    logical_id, bucket = _bucket(template)
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (policy,) = [
        p
        for p in of_type(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical_id}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (tls,) = [s for s in statements if s["Effect"] == "Deny"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and tls["Action"] == "s3:*"
    assert tls["Principal"] == {"AWS": "*"}


def _bucket_grants(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Function logical id -> its IAM statements on the archive bucket (settlement's Prepare writes its own
    manifest bucket: tests/infra/test_settlement_cdk.py)."""
    logical_id, _ = _bucket(template)
    s3: dict[str, list[dict[str, Any]]] = {}
    for fn in of_type(template, "AWS::Lambda::Function"):
        found = [s for s in statements_of(template, fn) if any(str(a).startswith("s3:") for a in as_list(s["Action"]))]
        if found and logical_id in json.dumps(found):
            s3[fn] = found
    return s3


def test_only_the_archive_job_may_write_the_bucket_and_only_put_objects_under_raw(template: dict[str, Any]) -> None:
    logical_id, _ = _bucket(template)
    # Given every function's IAM statements on the archive bucket
    s3 = _bucket_grants(template)
    # Then the archive job is the only one that may put objects, s3:PutObject on <bucket>/raw/* and nothing else
    archive = function_id(template, ARCHIVE_JOB)
    writers = {fn for fn, found in s3.items() if any(a != "s3:GetObject" for s in found for a in as_list(s["Action"]))}
    assert writers == {archive}
    (grant,) = s3[archive]
    assert as_list(grant["Action"]) == ["s3:PutObject"] and grant["Effect"] == "Allow"
    (resource,) = as_list(grant["Resource"])
    assert render(resource) == "${" + logical_id + ".Arn}/" + PREFIX + "*"
    # And it is told the bucket's name
    assert _env(template, ARCHIVE_JOB)[BUCKET_ENV] == {"Ref": logical_id}


def test_only_the_telemetry_api_reads_the_archive_and_only_gets_objects_under_raw(template: dict[str, Any]) -> None:
    logical_id, _ = _bucket(template)
    # Given every function's IAM statements on the archive bucket
    s3 = _bucket_grants(template)
    # Then the readings API (a raw history of days past the retention) is the only reader, with s3:GetObject on
    # <bucket>/raw/* and nothing else: no list, no put, no delete, nothing outside raw/
    api = function_id(template, api_handler("telemetry"))
    assert set(s3) == {api, function_id(template, ARCHIVE_JOB)}
    (grant,) = s3[api]
    assert as_list(grant["Action"]) == ["s3:GetObject"] and grant["Effect"] == "Allow"
    (resource,) = as_list(grant["Resource"])
    assert render(resource) == "${" + logical_id + ".Arn}/" + PREFIX + "*"
    # And it is told the bucket's name, and may read the archive's records (not write them)
    assert _env(template, api_handler("telemetry"))[BUCKET_ENV] == {"Ref": logical_id}
    archive_table = table_ids(template)[ArchivedDayModel.Meta.logical_name]
    actions = {
        action
        for statement in statements_of(template, api)
        if archive_table in json.dumps(statement["Resource"])
        for action in as_list(statement["Action"])
    }
    assert "dynamodb:BatchGetItem" in actions
    assert not {a for a in actions if a.startswith("dynamodb:") and ("Put" in a or "Update" in a or "Delete" in a)}


@pytest.mark.parametrize("handler", [INGEST, api_handler("telemetry"), ARCHIVE_JOB])
def test_functions_that_store_or_archive_readings_run_with_the_deployments_retention(
    template: dict[str, Any], handler: str
) -> None:
    assert _env(template, handler)[RETENTION_ENV] == "35"


def test_the_archive_and_rollup_jobs_run_in_segments_with_the_lambda_timeout(template: dict[str, Any]) -> None:
    for handler, name in ((ARCHIVE_JOB, "telemetry-archive"), (ROLLUP_JOB, "telemetry-rollups")):
        spec = next(s for s in resources.SCHEDULES if s.name == name)
        fn = function_id(template, handler)
        assert template["Resources"][fn]["Properties"]["Timeout"] == 900
        inputs = sorted(
            json.loads(s["Properties"]["Target"]["Input"])["segment"]
            for s in of_type(template, "AWS::Scheduler::Schedule").values()
            if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [fn, "Arn"]}
        )
        assert spec.segments > 1 and inputs == list(range(spec.segments))
    # and a rollup invocation may visit a whole segment of a million devices (docs/scaling.md)
    assert int(_env(template, ROLLUP_JOB)["GS_ROLLUP_DEVICES_PER_RUN"]) * 32 >= 1_000_000


@pytest.mark.parametrize(("value", "days"), [(None, 35), ("90", 90), (60, 60)])
def test_the_retention_is_a_context_value(value: Any, days: int) -> None:
    app = cdk.App(context={} if value is None else {constants.CTX_TELEMETRY_RAW_RETENTION_DAYS: value})
    assert DeploySettings.from_scope(app).telemetry_raw_retention_days == days


@pytest.mark.parametrize("value", ["15", "31", "0", "a month"])
def test_a_retention_that_would_expire_unarchived_readings_does_not_synthesize(value: str) -> None:
    app = cdk.App(context={constants.CTX_TELEMETRY_RAW_RETENTION_DAYS: value})
    with pytest.raises(ValueError, match=constants.CTX_TELEMETRY_RAW_RETENTION_DAYS):
        DeploySettings.from_scope(app)
