"""What the market and settlement e2e tests do as users do: the CLI, top-ups through the Stripe stand-in,
sites, meters streaming over MQTT, orders, and the clock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from awscrt import mqtt5

from gridshare_local.device_client import DeviceConnection, StackClock
from tests.e2e.conftest import REPO, Stack
from tests.support.waiting import wait_for

Q = 900_000  # a delivery interval, 15 minutes in ms


def gridshare(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The `gridshare` CLI against the stack, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "gridshare_local.cli", *args],
        cwd=REPO,
        env=stack.env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def balances(stack: Stack, token: str) -> dict[str, int]:
    """Asset -> available, from `GET /v1/wallet`."""
    rows = stack.call("GET", "/v1/wallet", token=token).json()["data"]["balances"]
    return {str(b["asset"]): int(b["available"]) for b in rows}


def available(stack: Stack, token: str, asset: str = "EUR") -> int:
    return balances(stack, token).get(asset, 0)


def top_up(stack: Stack, login: dict[str, Any], amount: int) -> None:
    """A top-up paid through the Stripe stand-in (`gridshare pay confirm`), awaited until credited."""
    before = available(stack, login["accessToken"])
    response = stack.call(
        "POST",
        "/v1/wallet/topups",
        {"amount": amount, "currency": "EUR"},
        token=login["accessToken"],
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    paid = gridshare(stack, "pay", "confirm", response.json()["data"]["paymentIntentId"])
    assert paid.returncode == 0, paid.stdout + paid.stderr
    wait_for(lambda: available(stack, login["accessToken"]) == before + amount, "the top-up was not credited")


def topped_up(stack: Stack, email: str, amount: int, role: str = "consumer") -> dict[str, Any]:
    login = stack.register(email, role)
    top_up(stack, login, amount)
    return login


def site(stack: Stack, token: str, name: str, capacity_kw: float, feed_in: int, retail: int = 30) -> str:
    body = {
        "name": name,
        "kind": "solar",
        "capacityKw": capacity_kw,
        "location": {"lat": 45.07, "lon": 7.69},
        "timezone": "Europe/Rome",
        "tariff": {"currency": "EUR", "retailMinorPerKwh": retail, "feedInMinorPerKwh": feed_in},
    }
    made = stack.call("POST", "/v1/sites", body, token=token)
    assert made.status_code == 201, made.text
    return str(made.json()["data"]["id"])


def meter(stack: Stack, token: str, site_id: str, role: str) -> dict[str, Any]:
    made = stack.call("POST", "/v1/devices", {"name": f"{role} meter", "type": "meter"}, token=token)
    assert made.status_code == 201, made.text
    device = dict(made.json()["data"])
    attached = stack.call("PUT", f"/v1/sites/{site_id}/devices/{device['id']}", {"role": role}, token=token)
    assert attached.status_code == 200, attached.text
    return device


def latest_seq(stack: Stack, device_id: str, token: str) -> int | None:
    response = stack.call("GET", f"/v1/devices/{device_id}/readings/latest", token=token)
    return int(response.json()["data"]["seq"]) if response.status_code == 200 else None


def stream(
    stack: Stack,
    device: dict[str, Any],
    token: str,
    folder: Path,
    counter: str,
    points: list[tuple[int, int]],
    first_seq: int = 1,
) -> None:
    """The meter publishes `counter` at each (ts, value) over MQTT (mutual TLS), one reading stored at a time."""
    with DeviceConnection(device, folder) as connection:
        for seq, (ts, value) in enumerate(points, start=first_seq):
            code = connection.send_telemetry({"ts": ts, "seq": seq, "metrics": {counter: value}})
            assert code == mqtt5.PubackReasonCode.SUCCESS
            wait_for(lambda seq=seq: latest_seq(stack, device["id"], token) == seq, f"reading {seq} stored")


def login(stack: Stack, email: str, password: str = "Passw0rd!x") -> dict[str, Any]:
    """A fresh login (the stack's clock may have moved past an earlier access token's hour)."""
    response = stack.call("POST", "/v1/auth/login", {"email": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def order(stack: Stack, who: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    response = stack.call(
        "POST",
        "/v1/market/orders",
        body,
        token=who["accessToken"],
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def advance_past(stack: Stack, when_ms: int) -> str:
    """`gridshare clock advance` in whole minutes until the stack's clock is past `when_ms`; its output."""
    minutes = -(-(when_ms - StackClock(stack.api).now_ms()) // 60_000)
    advanced = gridshare(stack, "clock", "advance", f"{max(1, minutes)}m")
    assert advanced.returncode == 0, advanced.stdout + advanced.stderr
    return advanced.stdout
