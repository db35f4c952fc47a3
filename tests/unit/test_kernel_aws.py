"""PynamoDB's connections and the shared botocore session (gridshare.kernel.aws): one client per setting."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.connection import Connection

from gridshare.kernel import aws


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
