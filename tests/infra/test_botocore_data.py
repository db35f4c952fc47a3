"""The layer's botocore data: the services the code uses, minified, without documentation, meaning the same
(infra_cdk.botocore_data)."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from infra_cdk.botocore_data import LAYER_SERVICES, blank_documentation, slim
from infra_cdk.constructs import shared

BOTOCORE_DATA = Path(botocore.__file__).parent / "data"
# `client("s3")`, `new_client(\n    "apigatewaymanagementapi", ...)`: the service is a literal first argument
_CLIENT_CALL = re.compile(r"\b(?:new_)?client\(\s*\"([a-z0-9-]+)\"")
_OTHER_CLIENT = re.compile(r"\.create_client\(|boto3\.client\(|\bclient\(\s*[a-z_]")
# Services the functions create clients of, whose slimmed data is compared with botocore's
SERVICES = ("dynamodb", "s3", "sqs", "events", "stepfunctions", "cognito-idp", "iot", "iot-data", "secretsmanager")


@pytest.fixture(scope="module")
def slimmed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("botocore-data")
    assert slim(BOTOCORE_DATA, target) > 2 * len(SERVICES)
    return target


def _loaders(slimmed: Path) -> tuple[botocore.loaders.Loader, botocore.loaders.Loader]:
    """botocore's loader, and one that reads the slimmed data first (as AWS_DATA_PATH makes it): S3's model
    has extras (`service-2.sdk-extras.json`, not slimmed) that the loader merges from botocore's own data."""
    return botocore.loaders.Loader(), botocore.loaders.Loader(extra_search_paths=[str(slimmed)])


@pytest.mark.parametrize("service", SERVICES)
def test_a_slimmed_model_and_its_endpoint_rules_mean_what_botocores_do(slimmed: Path, service: str) -> None:
    stock, lean = _loaders(slimmed)
    # The model: equal once the stock one's documentation is emptied, and its documentation is empty
    model = lean.load_service_model(service, "service-2")
    assert model == blank_documentation(stock.load_service_model(service, "service-2"))
    assert all(op.get("documentation", "") == "" for op in model["operations"].values())
    # The endpoint rules: equal
    assert lean.load_service_model(service, "endpoint-rule-set-1") == stock.load_service_model(
        service, "endpoint-rule-set-1"
    )


def test_the_partitions_are_equal_and_everything_is_smaller(slimmed: Path) -> None:
    stock, lean = _loaders(slimmed)
    assert lean.load_data("endpoints") == stock.load_data("endpoints")
    for name, most in (
        ("endpoints.json", 0.6),
        ("s3/2006-03-01/service-2.json.gz", 0.4),
        ("s3/2006-03-01/endpoint-rule-set-1.json.gz", 0.4),
    ):
        assert (slimmed / name).stat().st_size < most * (BOTOCORE_DATA / name).stat().st_size, name


def test_clients_built_from_the_slimmed_data_work(slimmed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a session whose loader reads the slimmed data first (as AWS_DATA_PATH does)
    monkeypatch.setenv("AWS_DATA_PATH", str(slimmed))
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    assert loader.search_paths[0] == str(slimmed)
    assert loader.load_service_model("s3", "service-2")["operations"]["PutObject"]["documentation"] == ""
    with mock_aws():
        # When the clients make their calls
        s3 = session.create_client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="manifests")
        s3.put_object(Bucket="manifests", Key="runs/r/manifest.json", Body=b"[]", ContentType="application/json")
        dynamodb = session.create_client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})
        # Then they answer as usual
        assert s3.get_object(Bucket="manifests", Key="runs/r/manifest.json")["Body"].read() == b"[]"
        assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}


def test_a_layer_with_its_dependencies_carries_slimmed_botocore_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given pip bringing botocore's S3 data into the layer (stood in for: installing needs the network)
    def pip(argv: list[str], **_: Any) -> None:
        site = Path(argv[argv.index("--target") + 1])
        for name in ("endpoints.json", "s3/2006-03-01/service-2.json.gz"):
            (site / "botocore" / "data" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(BOTOCORE_DATA / name, site / "botocore" / "data" / name)

    monkeypatch.setattr(shared.subprocess, "run", pip)
    # When the layer is staged with its dependencies
    layer = shared.stage_layer(tmp_path, bundle_dependencies=True)
    # Then its botocore data is the slimmed one
    data = layer / "python" / "botocore" / "data"
    model = gzip.decompress((data / "s3/2006-03-01/service-2.json.gz").read_bytes())
    assert b'"documentation":""' in model and b"\n" not in model
    assert b"\n" not in (data / "endpoints.json").read_bytes()


def test_the_module_runs_without_cdk() -> None:
    # The cold-start bench slims a copy with it, in a process that never imports the CDK
    done = subprocess.run(
        [sys.executable, "-c", "import sys, infra_cdk.botocore_data; print('aws_cdk' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.strip() == "False"


def test_the_layer_keeps_every_service_the_code_creates_a_client_of() -> None:
    # Every client is created through gridshare.kernel.aws (`client("s3")`, `new_client("sqs", ...)`)
    repo = Path(__file__).resolve().parents[2]
    sources = [*(repo / "layers" / "gridshare" / "gridshare").rglob("*.py"), *(repo / "functions").rglob("*.py")]
    named: set[str] = set()
    other = []
    for source in sources:
        text = source.read_text(encoding="utf-8")
        named.update(_CLIENT_CALL.findall(text))
        if _OTHER_CLIENT.search(text):
            other.append(source)
    assert {"dynamodb", "s3", "apigatewaymanagementapi"} <= named  # the reading finds them
    assert named <= LAYER_SERVICES, f"add to infra_cdk.botocore_data.LAYER_SERVICES: {sorted(named - LAYER_SERVICES)}"
    # And nothing creates a client any other way
    assert other == [repo / "layers/gridshare/gridshare/kernel/aws.py"]


def test_every_kept_service_is_botocores() -> None:
    assert {p.name for p in BOTOCORE_DATA.iterdir() if p.is_dir()} >= LAYER_SERVICES
