"""Device configuration through the API (the classic shadow in moto's iot-data), calibration at ingest, and
the reported firmware version through the shadow-documents Lambda."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.api import Api, register_user
from tests.support.devices import create_device, ingest, sqs_event


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _put(api: Api, token: str, device_id: str, body: dict[str, Any]) -> Any:
    return api.call("PUT", f"/v1/devices/{device_id}/config", body, token=token)


def _shadow_update(thing: str, reported: dict[str, Any]) -> None:
    """The device reports through its shadow (what IoT Core does with `$aws/things/{thing}/shadow/update`)."""
    import boto3

    boto3.client("iot-data").update_thing_shadow(
        thingName=thing, payload=json.dumps({"state": {"reported": reported}}).encode()
    )


def test_config_is_the_shadows_desired_state_and_reported_comes_back(api: Api) -> None:
    token = register_user(api, "config@example.com")["accessToken"]
    meter = create_device(api, token)

    # Given a device never configured: an empty shadow
    empty = api.call("GET", f"/v1/devices/{meter['id']}/config", token=token)
    assert empty.status_code == 200, empty.body
    assert _data(empty) == {"desired": {}, "reported": {}, "delta": {}, "version": 0}

    # When the owner sets a report interval and a calibration
    body = {"reportIntervalS": 30, "calibration": {"voltage_v": {"offset": 1.5, "scale": 1.01}}}
    response = _put(api, token, meter["id"], body)

    # Then the shadow's desired state holds it, and all of it is a delta until the device reports
    assert response.status_code == 200, response.body
    config = _data(response)
    assert config["desired"] == body
    assert config["delta"] == body
    assert config["version"] >= 1

    # When the device reports what it applied and its firmware version
    _shadow_update(meter["thingName"], {**body, "firmwareVersion": "1.4.2"})
    again = _data(api.call("GET", f"/v1/devices/{meter['id']}/config", token=token))
    assert again["reported"]["firmwareVersion"] == "1.4.2" and again["delta"] == {}

    # And PUT again with the same body is a no-op; a field left out is removed from desired
    assert _data(_put(api, token, meter["id"], body))["version"] == again["version"]
    trimmed = _data(_put(api, token, meter["id"], {"reportIntervalS": 60}))
    assert trimmed["desired"] == {"reportIntervalS": 60}
    assert trimmed["delta"] == {"reportIntervalS": 60}


def test_the_reported_firmware_version_reaches_the_device_through_the_documents_rule(api: Api) -> None:
    from gridshare.devices import shadow_events
    from gridshare_local.lambda_runtime import LambdaContext

    token = register_user(api, "firmware@example.com")["accessToken"]
    meter = create_device(api, token)
    assert _data(api.call("GET", f"/v1/devices/{meter['id']}", token=token))["firmwareVersion"] is None

    # When IoT publishes the shadow's documents after the device reported a firmware version
    documents = {
        "previous": None,
        "current": {"state": {"reported": {"firmwareVersion": "2.0.1"}}, "metadata": {}},
        "timestamp": int(time.time()),
    }
    event = sqs_event(meter["thingName"], json.dumps(documents), queue="device-shadow-documents")
    assert shadow_events.documents_handler(event, LambdaContext("shadow-documents")) == {"batchItemFailures": []}

    # Then the device and the device list show it
    assert _data(api.call("GET", f"/v1/devices/{meter['id']}", token=token))["firmwareVersion"] == "2.0.1"
    listed = _data(api.call("GET", "/v1/devices", token=token))
    assert [d["firmwareVersion"] for d in listed] == ["2.0.1"]


@pytest.mark.parametrize(
    ("device_type", "body", "field"),
    [
        ("meter", {"calibration": {"soc_pct": {"offset": 1}}}, "calibration.soc_pct"),
        ("meter", {"calibration": {"no_such_metric": {"offset": 1}}}, "calibration.no_such_metric"),
        ("meter", {"calibration": {"power_w": {"scale": 0}}}, "calibration.power_w.scale"),
        ("meter", {"reportIntervalS": 1}, "reportIntervalS"),
        ("meter", {"reportIntervalS": 100_000}, "reportIntervalS"),
        ("meter", {"tankCapacityKg": 11}, "tankCapacityKg"),
        ("gas_sensor", {"lowLevelPct": 120}, "lowLevelPct"),
        ("meter", {"colour": "red"}, "colour"),
    ],
)
def test_a_bad_configuration_is_a_422_naming_the_field(
    api: Api, device_type: str, body: dict[str, Any], field: str
) -> None:
    token = register_user(api, "bad@example.com")["accessToken"]
    device = create_device(api, token, type=device_type)
    response = _put(api, token, device["id"], body)
    assert response.status_code == 422, response.body
    problem = json.loads(response.body)
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert field in [e["field"] for e in problem["errors"]], problem


def test_a_gas_sensor_takes_its_own_fields(api: Api) -> None:
    token = register_user(api, "gas@example.com")["accessToken"]
    sensor = create_device(api, token, type="gas_sensor")
    body = {"tankCapacityKg": 11, "lowLevelPct": 20, "calibration": {"gas_level_pct": {"offset": -2}}}
    response = _put(api, token, sensor["id"], body)
    assert response.status_code == 200, response.body
    assert _data(response)["desired"]["calibration"] == {"gas_level_pct": {"offset": -2, "scale": 1}}


def test_another_users_device_config_is_404(api: Api) -> None:
    owner = register_user(api, "owner@example.com")["accessToken"]
    other = register_user(api, "other@example.com")["accessToken"]
    meter = create_device(api, owner)
    assert api.call("GET", f"/v1/devices/{meter['id']}/config", token=other).status_code == 404
    assert _put(api, other, meter["id"], {"reportIntervalS": 30}).status_code == 404


def test_calibration_applies_at_ingest_and_the_raw_value_is_kept(api: Api) -> None:
    token = register_user(api, "calibrated@example.com")["accessToken"]
    meter = create_device(api, token)
    thing = meter["thingName"]
    now = int(time.time() * 1000)
    base = now - 3_600_000
    ingest(thing, json.dumps({"ts": base, "seq": 0, "metrics": {"voltage_v": 230.0, "energy_import_wh": 1000}}))

    # When a calibration is set (voltage +2 V; the import counter read 10 % low)
    body = {"calibration": {"voltage_v": {"offset": 2}, "energy_import_wh": {"scale": 1.1}}}
    assert _put(api, token, meter["id"], body).status_code == 200
    message = {"ts": base + 900_000, "seq": 1, "metrics": {"voltage_v": 230.0, "energy_import_wh": 1000}}
    assert ingest(thing, json.dumps(message)) == {"batchItemFailures": []}

    # Then the stored reading is calibrated, with the value the device sent beside it
    latest = _data(api.call("GET", f"/v1/devices/{meter['id']}/readings/latest", token=token))
    assert latest["metrics"] == {"voltage_v": 232.0, "energy_import_wh": 1100}
    raw = _data(
        api.call("GET", f"/v1/devices/{meter['id']}/readings?metric=voltage_v&from={base}&to={now}", token=token)
    )
    assert [(p["value"], p.get("uncalibrated")) for p in raw] == [(230.0, None), (232.0, 230.0)]
    # And the rollups count the calibrated counter's energy
    energy = _data(
        api.call(
            "GET",
            f"/v1/devices/{meter['id']}/readings?metric=energy_import_wh&from={base - 3_600_000}&to={now}"
            "&resolution=1h",
            token=token,
        )
    )
    assert sum(p["energyWh"] for p in energy) == 100


def test_a_shadow_changed_between_read_and_write_is_a_409(api: Api) -> None:
    from gridshare.devices.config_service import ConfigService, config_service
    from gridshare.devices.shadow import IotShadowStore

    token = register_user(api, "race@example.com")["accessToken"]
    meter = create_device(api, token)
    assert _put(api, token, meter["id"], {"reportIntervalS": 30}).status_code == 200

    class Racing(IotShadowStore):
        """The device reports between the service's read and its write."""

        def update_desired(self, thing_name: str, desired: dict[str, Any], version: int | None) -> dict[str, Any]:
            _shadow_update(thing_name, {"reportIntervalS": 30})
            return super().update_desired(thing_name, desired, version)

    with config_service.override(ConfigService(shadows=Racing())):
        response = _put(api, token, meter["id"], {"reportIntervalS": 60})
    assert response.status_code == 409, response.body
    assert _data(api.call("GET", f"/v1/devices/{meter['id']}/config", token=token))["desired"] == {
        "reportIntervalS": 30
    }
