"""The README's "Try it" session, run as a user would paste it: bash, curl, Python one-liners, the CLI.

The block after the `try-it` marker is run as it is written, against the shared e2e stack (`API` and `GS`
are the only things set from outside: the stack's URL and this checkout's `gridshare`), in a directory of
its own (it writes and removes `device.json`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- try-it:"


def try_it_block() -> str:
    text = README.read_text()
    after = text[text.index(MARKER) :]
    match = re.search(r"```sh\n(.*?)```", after, re.S)
    assert match, "the try-it marker is followed by a ```sh block"
    return match.group(1)


def test_the_block_uses_nothing_a_fresh_machine_lacks() -> None:
    block = try_it_block()
    for missing in ("uuidgen", "jq ", "123456", "<paymentIntentId>", "$TOKEN_"):
        assert missing not in block


@pytest.mark.skipif(shutil.which("curl") is None, reason="the session is curl commands")
def test_the_readme_session_works_as_written(stack: Stack, tmp_path: Path) -> None:
    gridshare = Path(sys.executable).with_name("gridshare")
    env = {**stack.env, "API": stack.api, "GS": str(gridshare)}
    result = subprocess.run(  # noqa: S603 - bash runs our own README's block
        ["bash", "-eo", "pipefail", "-c", try_it_block()],  # noqa: S607
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
    answers = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    # the readings the session published by hand came back through the API
    latest = next(a["data"] for a in answers if "seq" in a.get("data", {}))
    assert latest["seq"] == 2 and latest["metrics"]["power_w"] == 900, latest
    history = next(a for a in answers if a.get("meta", {}).get("resolution") == "15m")
    assert sum(p["energyWh"] for p in history["data"]) == 250, history
    assert out.count("published to gs/v1/") == 2
    # the top-up was paid and credited once
    wallet = answers[-2]["data"]
    eur = next(b for b in wallet["balances"] if b["asset"] == "EUR")
    assert (eur["available"], eur["pending"]) == (2500, 0), wallet
    # the last command shows a problem naming the field
    problem = answers[-1]
    assert problem["status"] == 422 and any(e["field"] == "email" for e in problem["errors"]), problem
    assert list(tmp_path.iterdir()) == [], "the session cleans up device.json"
