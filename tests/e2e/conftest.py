"""End-to-end fixtures: the whole local stack as `gridshare up` runs it, in a subprocess on free ports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    api: str
    mqtt_port: int
    state_dir: Path
    env: dict[str, str]
    startup_s: float
    session: requests.Session = field(default_factory=requests.Session)
    ws: str = ""  # the WebSocket API, ws://127.0.0.1:<GS_WS_PORT>

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, f"{self.api}{path}", json=body, headers=headers, timeout=30, **kwargs)

    def register(self, email: str, role: str = "prosumer", password: str = "Passw0rd!x") -> dict[str, Any]:
        created = self.call(
            "POST",
            "/v1/auth/register",
            {"email": email, "password": password, "name": email.split("@")[0], "role": role},
        )
        assert created.status_code == 201, created.text
        code = self.call("GET", "/_local/outbox", params={"to": email}).json()["data"][-1]["code"]
        assert self.call("POST", "/v1/auth/verify-email", {"email": email, "code": code}).status_code == 200
        login = self.call("POST", "/v1/auth/login", {"email": email, "password": password})
        assert login.status_code == 200, login.text
        return dict(login.json()["data"])

    def admin_token(self, email: str = "admin@example.com", password: str = "Adm1n-Passw0rd") -> str:
        login = self.call("POST", "/v1/auth/login", {"email": email, "password": password})
        if login.status_code != 200:
            subprocess.run(  # the CLI, as an operator would
                [
                    sys.executable,
                    "-m",
                    "gridshare_local.cli",
                    "admin",
                    "create",
                    "--email",
                    email,
                    "--password",
                    password,
                ],
                env=self.env,
                check=True,
                capture_output=True,
                timeout=60,
            )
            login = self.call("POST", "/v1/auth/login", {"email": email, "password": password})
        assert login.status_code == 200, login.text
        return str(login.json()["data"]["accessToken"])


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The stack every e2e test shares."""
    with running_stack() as shared:
        yield shared


@pytest.fixture(scope="module")
def private_stack() -> Iterator[Stack]:
    """A stack of the test module's own, for tests that change what every later test would see: moving
    its clock (`gridshare clock advance`) moves "now" for every process of the stack, while other e2e
    tests compute times on the real clock (TOTP codes, reading timestamps)."""
    with running_stack() as own:
        yield own


@contextmanager
def running_stack() -> Iterator[Stack]:
    """`gridshare up` in a subprocess on free ports, until /health answers; stopped with Ctrl-C after."""
    # Not pytest's tmp_path: its parents are mode 700 and Mosquitto (which drops root) must enter them.
    state = Path(tempfile.mkdtemp(prefix="gridshare-e2e-"))
    state.chmod(0o755)
    api_port, mqtt_port, moto_port, ws_port = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "GS_STATE_DIR": str(state),
        "GS_API_PORT": str(api_port),
        "GS_MQTT_PORT": str(mqtt_port),
        "GS_MOTO_PORT": str(moto_port),
        "GS_WS_PORT": str(ws_port),
        "PYTHONUNBUFFERED": "1",
        # one IP (127.0.0.1) runs every e2e test: keep the per-IP limit above what the suite does on purpose
        "GS_IP_FAILURE_LIMIT": "60",
        "GS_CORS_ORIGINS": "https://app.gridshare.test",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    log = (state / "stack.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "gridshare_local.cli", "up"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{api_port}"
    try:
        deadline = started + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("gridshare up exited:\n" + (state / "stack.log").read_text()[-3000:])
            try:
                if requests.get(f"{api}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("no /health within 60 s:\n" + (state / "stack.log").read_text()[-3000:])
            time.sleep(0.2)
        startup = time.monotonic() - started
        wait_for(lambda: (state / "env.json").exists(), what="env.json written", timeout=30, interval=0.1)
        yield Stack(
            api=api,
            mqtt_port=mqtt_port,
            state_dir=state,
            startup_s=startup,
            env={**env, "GS_STATE_DIR": str(state)},
            ws=f"ws://127.0.0.1:{ws_port}",
        )
    finally:
        # Ctrl-C, as a developer would stop it: every process it started must end
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        if os.environ.get("GS_KEEP_E2E_STATE") != "1":
            shutil.rmtree(state, ignore_errors=True)


def env_json(stack: Stack) -> dict[str, str]:
    return dict(json.loads((stack.state_dir / "env.json").read_text()))
