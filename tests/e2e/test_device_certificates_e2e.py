"""Device certificates end to end, as a device would live through them: the AWS IoT Device SDK (awscrt MQTT 5)
over mutual TLS against the local stack's broker. A rotated certificate connects and its telemetry is stored;
a revoked certificate is refused on connect and a session connected with it is dropped within 10 s; a
decommissioned device is refused, reads as `decommissioned`, keeps its readings and takes no commands.
Another user's device's certificates are 404.

Locally the broker drops every session of the revoked certificate's thing (gridshare_local.revocation);
IoT Core drops only the revoked certificate's. So after a revocation the device connected with another,
still active certificate is dropped too, and reconnects with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5

from gridshare_local.device_client import DeviceConnection, write_credentials
from tests.e2e.conftest import Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
DROP_WITHIN_S = 10.0


def _credentials(device: dict[str, Any], issued: dict[str, Any], workdir: Path) -> tuple[Path, Path, Path]:
    """The files of a rotated certificate, as the device stores them."""
    return write_credentials({**device, **issued}, workdir)


def _refused(device: dict[str, Any], files: tuple[Path, Path, Path]) -> bool:
    connection = DeviceConnection(device, None, files=files)
    try:
        connection.connect(timeout=10)
    except Exception:
        return True
    finally:
        connection.close()
    return False


def _reading(stack: Stack, token: str, device_id: str, seq: int) -> dict[str, Any] | None:
    response = stack.call("GET", f"/v1/devices/{device_id}/readings/latest", token=token)
    data = response.json().get("data") if response.status_code == 200 else None
    return data if data and data["seq"] == seq else None


def _publish(connection: DeviceConnection, seq: int) -> mqtt5.PubackReasonCode:
    now = int(time.time() * 1000)
    return connection.send_telemetry({"ts": now, "seq": seq, "metrics": {"power_w": 100.0 + seq}})


def test_rotate_then_revoke_refuses_and_drops_the_certificate(
    stack: Stack, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    token = stack.register("certs.e2e@example.com")["accessToken"]
    device = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]
    base = f"/v1/devices/{device['id']}/certificates"

    # Given the device connected with its provisioning certificate
    first_files = write_credentials(device, tmp_path / "first")
    with DeviceConnection(device, None, files=first_files) as connection:
        assert _publish(connection, 1) == mqtt5.PubackReasonCode.SUCCESS
    wait_for(lambda: _reading(stack, token, device["id"], 1), what="first reading stored")

    # When it rotates: a new certificate, connected with, publishing
    issued = stack.call("POST", base, {}, token=token)
    assert issued.status_code == 201, issued.text
    second = issued.json()["data"]
    second_files = _credentials(device, second, tmp_path / "second")
    rotated = DeviceConnection(device, None, files=second_files).connect()
    try:
        assert _publish(rotated, 2) == mqtt5.PubackReasonCode.SUCCESS
        wait_for(lambda: _reading(stack, token, device["id"], 2), what="reading over the rotated certificate")

        # And the old certificate is revoked
        assert stack.call("DELETE", f"{base}/{device['certificateId']}", token=token).status_code == 204
        # Then a new connection with it is refused
        assert _refused(device, first_files)
        # (locally the thing's session was dropped too: it reconnects with its still active certificate)
        assert rotated.disconnected.wait(DROP_WITHIN_S)
        assert rotated.reconnected.wait(30)
        assert _publish(rotated, 3) == mqtt5.PubackReasonCode.SUCCESS
        wait_for(lambda: _reading(stack, token, device["id"], 3), what="reading after the old one was revoked")

        # When the certificate it is connected with is revoked
        rotated.disconnected.clear()
        rotated.reconnected.clear()
        failures = rotated.failures
        started = time.monotonic()
        assert stack.call("DELETE", f"{base}/{second['id']}", token=token).status_code == 204
        # Then the live session is dropped within 10 s, and its reconnects are refused
        assert rotated.disconnected.wait(DROP_WITHIN_S), "the revoked certificate's session was not dropped"
        dropped_after = time.monotonic() - started
        wait_for(lambda: rotated.failures > failures, what="reconnect with the revoked certificate refused")
        assert not rotated.reconnected.is_set()
    finally:
        rotated.close()
    record_property("revoked_session_dropped_after_s", round(dropped_after, 2))
    assert dropped_after < DROP_WITHIN_S
    assert _refused(device, second_files)
    listed = stack.call("GET", base, token=token).json()["data"]
    assert [(c["id"], c["status"]) for c in listed] == [
        (device["certificateId"], "revoked"),
        (second["id"], "revoked"),
    ]

    # And another user's device's certificates are not found
    other = stack.register("certs.other.e2e@example.com")["accessToken"]
    assert stack.call("GET", base, token=other).status_code == 404
    assert stack.call("POST", base, {}, token=other).status_code == 404
    assert stack.call("DELETE", f"{base}/{second['id']}", token=other).status_code == 404
    assert stack.call("DELETE", f"/v1/devices/{device['id']}", token=other).status_code == 404


def test_a_decommissioned_device_is_dropped_refused_and_keeps_its_history(stack: Stack, tmp_path: Path) -> None:
    token = stack.register("decommission.e2e@example.com")["accessToken"]
    device = stack.call("POST", "/v1/devices", {"name": "meter", "type": "meter"}, token=token).json()["data"]
    spare = stack.call("POST", f"/v1/devices/{device['id']}/certificates", {}, token=token).json()["data"]
    spare_files = _credentials(device, spare, tmp_path / "spare")
    files = write_credentials(device, tmp_path / "device")
    bystander = stack.call("POST", "/v1/devices", {"name": "other", "type": "meter"}, token=token).json()["data"]
    neighbour = DeviceConnection(bystander, tmp_path / "bystander").connect()
    connection = DeviceConnection(device, None, files=files).connect()
    try:
        assert _publish(connection, 1) == mqtt5.PubackReasonCode.SUCCESS
        wait_for(lambda: _reading(stack, token, device["id"], 1), what="reading stored")

        # When its owner decommissions it while it is connected
        started = time.monotonic()
        assert stack.call("DELETE", f"/v1/devices/{device['id']}", token=token).status_code == 204
        # Then its session is dropped within 10 s and it cannot reconnect
        assert connection.disconnected.wait(DROP_WITHIN_S)
        assert time.monotonic() - started < DROP_WITHIN_S
        failures = connection.failures
        wait_for(lambda: connection.failures > failures, what="reconnect refused")
        assert not connection.reconnected.is_set()
        # And another device of the same owner was not touched
        assert not neighbour.disconnected.is_set()
        assert _publish(neighbour, 1) == mqtt5.PubackReasonCode.SUCCESS
    finally:
        connection.close()
        neighbour.close()
    # And none of its certificates connects
    assert _refused(device, files) and _refused(device, spare_files)

    # And it reads as decommissioned, its readings are still there, new commands are refused
    got = stack.call("GET", f"/v1/devices/{device['id']}", token=token).json()["data"]
    assert got["status"] == "decommissioned"
    assert _reading(stack, token, device["id"], 1)
    command = stack.call("POST", f"/v1/devices/{device['id']}/commands", {"name": "reset_counters"}, token=token)
    assert command.status_code == 409 and command.headers["Content-Type"] == "application/problem+json"
    assert "decommissioned" in command.json()["detail"]
    # And a second decommission is a no-op
    assert stack.call("DELETE", f"/v1/devices/{device['id']}", token=token).status_code == 204
