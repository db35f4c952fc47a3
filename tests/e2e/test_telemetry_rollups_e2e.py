"""The telemetry rollup job end to end (decision 0016): a meter reports over mutual TLS, `gridshare clock
advance` moves the stack's clock past the hour and fires the hourly `telemetry-rollups` schedule, and the
readings history at every resolution is the same before (computed from raw) and after (stored hours).

Runs on a stack of its own (`private_stack`): moving the clock would move it under every later test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from awscrt import mqtt5

from gridshare_local.device_client import DeviceConnection
from tests.e2e.conftest import Stack, env_json
from tests.e2e.test_device_health_e2e import _gridshare, _now_ms
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
HOUR = 3_600_000


def _history(stack: Stack, token: str, device_id: str, resolution: str, start: int, end: int) -> list[Any]:
    response = stack.call(
        "GET",
        f"/v1/devices/{device_id}/readings",
        params={"metric": "energy_import_wh", "from": start, "to": end, "resolution": resolution},
        token=token,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def _login(stack: Stack) -> str:
    login = stack.call("POST", "/v1/auth/login", {"email": "rollups@example.com", "password": "Passw0rd!x"})
    assert login.status_code == 200, login.text
    return str(login.json()["data"]["accessToken"])


def test_the_hourly_job_stores_closed_hours_and_history_stays_the_same(private_stack: Stack, tmp_path: Path) -> None:
    stack = private_stack
    token = stack.register("rollups@example.com")["accessToken"]
    meter = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]
    start = _now_ms(stack)
    with DeviceConnection(meter, tmp_path / "meter") as device:
        # Given a meter that reports, then reports again after the clock moved past the hour
        first = {"ts": start, "seq": 1, "metrics": {"power_w": 500.0, "energy_import_wh": 10_000}}
        assert device.send_telemetry(first) == mqtt5.PubackReasonCode.SUCCESS
        latest = f"/v1/devices/{meter['id']}/readings/latest"
        wait_for(lambda: stack.call("GET", latest, token=token).status_code == 200, what="the first reading")
        moved = _gridshare("clock", "advance", "70m", env=stack.env)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        token = _login(stack)  # access tokens last an hour of the stack's clock
        second = {"ts": _now_ms(stack), "seq": 2, "metrics": {"power_w": 520.0, "energy_import_wh": 10_600}}
        assert device.send_telemetry(second) == mqtt5.PubackReasonCode.SUCCESS
        end = second["ts"] + 1

        def both() -> list[Any] | None:
            points = _history(stack, token, meter["id"], "15m", start - HOUR, end)
            return points if sum(p["energyWh"] for p in points) == 600 else None

        wait_for(both)
    before = {r: _history(stack, token, meter["id"], r, start - HOUR, end) for r in ("15m", "1h", "1d")}

    # When the clock moves two more hours: the hourly rollup schedule fires and stores the closed hours
    advanced = _gridshare("clock", "advance", "2h", env=stack.env)
    assert advanced.returncode == 0, advanced.stdout + advanced.stderr
    assert "telemetry-rollups" in advanced.stdout, advanced.stdout
    token = _login(stack)

    # Then every resolution reads the same numbers, and the energy is the counters' difference
    after = {r: _history(stack, token, meter["id"], r, start - HOUR, end) for r in ("15m", "1h", "1d")}
    assert after == before
    assert sum(p["energyWh"] for p in after["1h"]) == 600
    # and every hour before the second reading's is a stored item now (the job ran in the stack and succeeded):
    # the first reading's hour, and the next one too when the second reading fell two hours later (a first
    # reading in the hour's last ten minutes); the second reading's own hour waits for a reading after it
    env = env_json(stack)
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=env.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{stack.env['GS_MOTO_PORT']}",
        region_name=env.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = env.get("GS_TABLE_TELEMETRY_ROLLUPS", "gridshare-telemetry-rollups")
    stored = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{meter['id']}#hour"}},
    )["Items"]
    closed = list(range(start - start % HOUR, second["ts"] - second["ts"] % HOUR, HOUR))
    assert [int(item["bucket"]["N"]) for item in stored] == closed
