"""PynamoDB's connections and the shared botocore session (gridshare.kernel.aws): one client per setting,
the low-level DynamoDB client the models' own, no boto3, and botocore's data read as plain dicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest
from pynamodb.connection import Connection

from gridshare.kernel import aws
from gridshare.kernel.tables import CONNECTION_SETTINGS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> aws.PynamoDBSession:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    fresh = aws.PynamoDBSession(aws.botocore_session())
    monkeypatch.setattr(aws, "pynamodb_session", lambda: fresh)
    aws.share_session_with_pynamodb()  # get_session now reads the patched factory
    return fresh


def test_connections_with_the_same_settings_share_one_client(session: aws.PynamoDBSession) -> None:
    # Given three connections as three models without settings of their own make them, and one with its own
    same = [Connection(region="us-east-1") for _ in range(3)]
    slower = Connection(region="us-east-1", read_timeout_seconds=5)
    elsewhere = Connection(region="eu-west-1")
    # When each asks for its client
    clients = [c.client for c in same]
    # Then the three share one; a different setting or region gets a client of its own
    assert clients[0] is clients[1] is clients[2]
    assert slower.client is not clients[0] and elsewhere.client is not clients[0]
    assert elsewhere.client.meta.region_name == "eu-west-1"
    assert slower.client.meta.config.read_timeout == 5


def test_a_client_without_credentials_is_not_handed_out_again(session: aws.PynamoDBSession) -> None:
    # Given a connection's client whose credentials went missing (what PynamoDB replaces)
    first = Connection(region="us-east-1").client
    signer: Any = first._request_signer
    signer._credentials = None
    # When another connection asks for the same client
    second = Connection(region="us-east-1").client
    # Then it gets a new one with credentials, which is the one shared from then on
    assert second is not first and second._request_signer._credentials
    assert Connection(region="us-east-1").client is second


def test_reset_clients_gives_new_connections_new_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a connection's client from the process's PynamoDB session
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.share_session_with_pynamodb()
    before = Connection(region="us-east-1").client
    # When the clients are reset (what the test fixtures do between tests)
    aws.reset_clients()
    # Then a new connection creates a new client, which the next one shares
    after = Connection(region="us-east-1").client
    assert after is not before
    assert Connection(region="us-east-1").client is after


def test_the_low_level_dynamodb_client_is_the_one_the_models_use(session: aws.PynamoDBSession) -> None:
    # Given a model's connection (its Meta's region and connection settings: gridshare.kernel.tables)
    from gridshare.telemetry.models import RawReadingModel

    aws.client.cache_clear()
    try:
        RawReadingModel._connection = None
        model_client = RawReadingModel._get_connection().connection.client
        # When a store asks for the low-level DynamoDB client
        low_level = aws.client("dynamodb")
        # Then it is the same client: one DynamoDB client per process, with the models' settings
        assert low_level is model_client
        assert low_level.meta.config.connect_timeout == CONNECTION_SETTINGS["connect_timeout_seconds"]
        assert low_level.meta.config.read_timeout == CONNECTION_SETTINGS["read_timeout_seconds"]
    finally:
        RawReadingModel._connection = None
        aws.client.cache_clear()


def test_clients_are_botocore_clients_and_boto3_is_never_imported() -> None:
    # Given a fresh interpreter with the layer on its path (as a Lambda function)
    code = (
        "import sys; from gridshare.kernel import aws; "
        "clients = [aws.client('dynamodb'), aws.client('sqs'), aws.new_client('iot-data', endpoint_url='https://x')]; "
        "print(sorted(c.meta.service_model.service_name for c in clients), 'boto3' in sys.modules)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PYTHONPATH": str(REPO / "layers" / "gridshare"),
    }
    # When it creates a DynamoDB client, another service's and one with its own endpoint
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    # Then they are clients of those services, and boto3 was never imported
    assert done.stdout.split() == ["['dynamodb',", "'iot-data',", "'sqs']", "False"]


@pytest.mark.parametrize("service", ["dynamodb", "s3", "sqs"])
def test_the_shared_session_reads_botocores_data_as_plain_dicts_with_the_same_content(service: str) -> None:
    # Given the shared session's kind of loader (a new one: the session's caches what it loaded, and
    # botocore's callers may have amended that), and botocore's own
    assert isinstance(aws.botocore_session().get_component("data_loader").file_loader, aws.PlainJSONFileLoader)
    ours = botocore.loaders.Loader(file_loader=aws.PlainJSONFileLoader())
    stock = botocore.loaders.Loader()
    for type_name in ("service-2", "endpoint-rule-set-1"):
        # When both load a model
        plain, ordered = ours.load_service_model(service, type_name), stock.load_service_model(service, type_name)
        # Then the content and the order of every key are the same; only the mapping type differs
        assert type(plain) is dict and type(ordered) is not dict
        assert json.dumps(plain) == json.dumps(ordered)
    assert json.dumps(ours.load_data("endpoints")) == json.dumps(stock.load_data("endpoints"))
    # And a file that is not there is still no data
    assert ours.file_loader.load_file("/nonexistent/service-2") is None
