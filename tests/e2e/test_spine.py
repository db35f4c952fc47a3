"""The spine, as a user and a device would use it, through the running local stack."""

from __future__ import annotations

import socket
import ssl
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5

from gridshare.http.pagination import encode_cursor
from gridshare_local.device_client import DeviceConnection
from gridshare_local.state_secrets import CURSOR_KEY_FILE
from tests.e2e.conftest import Stack, env_json
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def test_health_answers_within_30_seconds(stack: Stack) -> None:
    assert stack.startup_s < 30, f"/health took {stack.startup_s:.1f} s"
    response = stack.call("GET", "/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_cursors_are_signed_with_the_state_dirs_own_key(stack: Stack) -> None:
    # Given the running stack's state directory
    key_file = stack.state_dir / CURSOR_KEY_FILE

    # Then it made its own cursor key, owner-only, and handed it to the API and other processes (env.json,
    # owner-only too since it holds the key)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert env_json(stack)["GS_CURSOR_SECRET"] == key_file.read_text().strip()
    assert stat.S_IMODE((stack.state_dir / "env.json").stat().st_mode) == 0o600

    # And a page's cursor opens the next page
    token = stack.register("pages@example.com")["accessToken"]
    for name in ("p1", "p2"):
        assert stack.call("POST", "/v1/devices", {"name": name, "type": "meter"}, token=token).status_code == 201
    first = stack.call("GET", "/v1/devices", params={"limit": 1}, token=token).json()
    cursor = first["pagination"]["nextCursor"]
    second = stack.call("GET", "/v1/devices", params={"limit": 1, "cursor": cursor}, token=token)
    assert second.status_code == 200, second.text
    assert {d["id"] for d in first["data"] + second.json()["data"]} == {
        d["id"] for d in stack.call("GET", "/v1/devices", token=token).json()["data"]
    }

    # And a cursor signed with any other key (this test process's own random one) is refused
    forged = encode_cursor({"k": "v"})
    refused = stack.call("GET", "/v1/devices", params={"limit": 1, "cursor": forged}, token=token)
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "cursor"


def test_user_provisions_a_device_that_streams_readings(stack: Stack, tmp_path: Path) -> None:
    # Given a registered, verified, logged-in prosumer
    user = stack.register("host@example.com")
    token = user["accessToken"]
    assert stack.call("GET", "/v1/me", token=token).json()["data"]["email"] == "host@example.com"

    # When they provision two devices through the API
    meter = stack.call("POST", "/v1/devices", {"name": "roof meter", "type": "meter"}, token=token).json()["data"]
    other = stack.call("POST", "/v1/devices", {"name": "battery", "type": "battery"}, token=token).json()["data"]
    assert meter["mqtt"]["port"] == stack.mqtt_port and meter["privateKey"].startswith("-----BEGIN")
    listed = stack.call("GET", "/v1/devices", token=token).json()
    assert {d["id"] for d in listed["data"]} == {meter["id"], other["id"]}
    assert (
        stack.call("GET", f"/v1/devices/{meter['id']}", token=token).json()["data"]["thingName"] == meter["thingName"]
    )

    # And the meter connects with the AWS IoT Device SDK over mutual TLS and publishes
    now = int(time.time() * 1000)
    start = now - 60 * 60_000
    with DeviceConnection(meter, tmp_path / "meter") as device:
        for i in range(8):
            code = device.send_telemetry(
                {
                    "ts": start + i * 450_000,
                    "seq": i + 1,
                    "metrics": {"power_w": 500.0 + i, "voltage_v": 231.0, "energy_import_wh": 20_000 + 125 * i},
                }
            )
            assert code == mqtt5.PubackReasonCode.SUCCESS
        device.send_telemetry(
            {
                "ts": start,
                "seq": 1,
                "metrics": {  # a redelivery: stored once
                    "power_w": 500.0,
                    "voltage_v": 231.0,
                    "energy_import_wh": 20_000,
                },
            }
        )
        device.send_telemetry({"ts": now, "seq": 100, "metrics": {"voltage_v": -3, "frequency_hz": 80}})
        device.send_telemetry(b"\x00garbage")
        # The same device publishing on another device's topic is refused by the broker's policy
        refused = device.publish(other["topics"]["telemetry"], {"ts": now, "seq": 1, "metrics": {"power_w": 1}})
        assert refused == mqtt5.PubackReasonCode.NOT_AUTHORIZED

    # Then the readings come back through the API
    def latest() -> dict[str, Any] | None:
        response = stack.call("GET", f"/v1/devices/{meter['id']}/readings/latest", token=token)
        return response.json()["data"] if response.status_code == 200 and response.json()["data"]["seq"] == 8 else None

    reading = wait_for(latest)
    assert reading["metrics"]["energy_import_wh"] == 20_875
    history = stack.call(
        "GET",
        f"/v1/devices/{meter['id']}/readings",
        params={"metric": "power_w", "from": start, "to": now},
        token=token,
    ).json()
    assert [p["value"] for p in history["data"]] == [500.0 + i for i in range(8)]
    energy = stack.call(
        "GET",
        f"/v1/devices/{meter['id']}/readings",
        params={"metric": "energy_import_wh", "from": start - 3_600_000, "to": now + 1, "resolution": "15m"},
        token=token,
    ).json()["data"]
    assert sum(p["energyWh"] for p in energy) == 875

    # And the invalid messages are dead letters with every reason (admin only)
    admin = stack.admin_token()
    assert stack.call("GET", "/v1/telemetry/dead-letters", token=token).status_code == 403

    def letters() -> list[dict[str, Any]] | None:
        found = stack.call("GET", "/v1/telemetry/dead-letters", token=admin).json()["data"]
        mine = [letter for letter in found if letter["thingName"] == meter["thingName"]]
        return mine if len(mine) >= 2 else None

    mine = wait_for(letters)
    fields = {r["field"] for letter in mine for r in letter["reasons"]}
    assert {"metrics.voltage_v", "metrics.frequency_hz", "$"} <= fields
    # And nothing reached the other device from the refused publish
    assert stack.call("GET", f"/v1/devices/{other['id']}/readings/latest", token=token).status_code == 404


def test_a_client_without_a_certificate_is_refused(stack: Stack) -> None:
    ca = stack.state_dir / "ca" / "ca.crt"
    context = ssl.create_default_context(cafile=str(ca) if ca.exists() else None)
    if not ca.exists():
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connect = b"\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05probe"
    with (
        pytest.raises((ssl.SSLError, ConnectionError, OSError)),  # noqa: PT012
        socket.create_connection(("127.0.0.1", stack.mqtt_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(connect)
        if not tls.recv(4):
            raise ConnectionError("closed without CONNACK")
