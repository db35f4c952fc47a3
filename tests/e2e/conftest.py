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

from gridshare.kernel.clock import now_s
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]

# `make test` runs this suite in the background, where the shell leaves SIGINT ignored (and so would every
# worker): Ctrl-C must still stop it, and through the fixtures every stack it started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


@dataclass
class _Stopping:
    process: subprocess.Popen[bytes]
    log: Any
    state: Path
    since: float  # when it was told to stop (gridshare.kernel.clock.now_s)


# Stacks told to stop (Ctrl-C) whose processes are still ending: the next module does not wait for them.
_stopping: list[_Stopping] = []


def _finish(stopping: _Stopping) -> None:
    """Wait for a stack told to stop; 20 s after its Ctrl-C, kill what is left of it. Then remove its state."""
    try:
        stopping.process.wait(timeout=max(0.0, stopping.since + 20 - now_s()))
    except subprocess.TimeoutExpired:
        os.killpg(stopping.process.pid, signal.SIGKILL)
        stopping.process.wait()
    stopping.log.close()
    if os.environ.get("GS_KEEP_E2E_STATE") != "1":
        shutil.rmtree(stopping.state, ignore_errors=True)


def _reap() -> None:
    """Finish the stopping stacks that have ended, or had 20 s to."""
    for stopping in list(_stopping):
        if stopping.process.poll() is not None or now_s() > stopping.since + 20:
            _stopping.remove(stopping)
            _finish(stopping)


@pytest.fixture(scope="session", autouse=True)
def _stacks_end() -> Iterator[None]:
    """At the end of the session every stack started has ended (within 20 s of Ctrl-C, else killed)."""
    yield
    while _stopping:
        _finish(_stopping.pop(0))


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
    _reap()
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
        # Ctrl-C, as a developer would stop it: every process it started must end. The tests go on while it
        # ends; it is waited for (and killed after 20 s) when the next stack starts or the session ends.
        process.send_signal(signal.SIGINT)
        _stopping.append(_Stopping(process, log, state, now_s()))
        _reap()


def env_json(stack: Stack) -> dict[str, str]:
    return dict(json.loads((stack.state_dir / "env.json").read_text()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of a module with a stack of its own (`private_stack`) in one xdist group: with `--dist
    loadgroup` (the Makefile) they run on one worker, which starts that stack once instead of each worker
    starting it. Those modules run before the tests on the shared stack (tests/conftest.py then puts the
    `heavy` ones first of all): the short tests on the shared stack fill in at the end."""
    for item in items:
        if "private_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(f"stack-{item.module.__name__}"))
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)
