"""Table names and regions are read from the environment when used, never frozen at import."""

from __future__ import annotations

import pytest

from gridshare.devices.models import DeviceModel
from gridshare.kernel.tables import ttl_attribute
from gridshare.telemetry.models import RawReadingModel


def test_a_models_physical_name_follows_the_environment_after_import(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the models module already imported, When CDK's variable is set afterwards
    monkeypatch.delenv("GS_TABLE_DEVICES", raising=False)
    assert DeviceModel.Meta.table_name == "gridshare-devices"
    monkeypatch.setenv("GS_TABLE_DEVICES", "stack-devices-table-1A2B")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    # Then PynamoDB sees the deployed name and region
    assert DeviceModel.Meta.table_name == "stack-devices-table-1A2B"
    assert DeviceModel.Meta.region == "eu-central-1"


def test_ttl_comes_from_the_models_ttl_attribute() -> None:
    assert ttl_attribute(RawReadingModel) == "expires_at"
    assert ttl_attribute(DeviceModel) is None
