"""The init phase without the cyclic garbage collector (gridshare.kernel.init_phase), in fresh interpreters:
the collector state is the process's, so each case gets its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Imports gridshare, reads the collector; runs an observed handler, reads it again.
_RUN = """
import gc, json, sys
if sys.argv[1] == "off-already":
    gc.disable()
import gridshare.kernel.settings  # any first import of gridshare
during = {"on": gc.isenabled(), "frozen": gc.get_freeze_count()}
from gridshare.kernel.observability import lambda_request_id, observed

@observed(correlation_id=lambda_request_id)
def handler(event, context):
    return {"on": gc.isenabled(), "frozen": gc.get_freeze_count()}

class Context:
    function_name = "init-phase"
    aws_request_id = "r-1"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:init-phase"

first = handler({}, Context())
second = handler({}, Context())
print(json.dumps({"during": during, "first": first, "second": second}))
"""


def _run(case: str, *, on_lambda: bool) -> dict[str, dict[str, object]]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{REPO}:{REPO / 'layers' / 'gridshare'}",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "init-phase",
    }
    if on_lambda:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "init-phase"
    done = subprocess.run(
        [sys.executable, "-c", _RUN, case], env=env, capture_output=True, text=True, cwd="/", timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, dict[str, object]] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_on_lambda_the_imports_run_without_the_collector_until_the_first_invocation_freezes_them() -> None:
    # Given a fresh interpreter with Lambda's environment
    # When gridshare is imported, then an observed handler is invoked twice
    seen = _run("default", on_lambda=True)
    # Then the collector is off during the imports, and back on from the first invocation, with every
    # object of the init phase frozen, and nothing frozen later (a frozen object that reference counting
    # frees leaves the count)
    assert seen["during"] == {"on": False, "frozen": 0}
    first, second = seen["first"], seen["second"]
    assert first["on"] is True and second["on"] is True
    assert isinstance(first["frozen"], int) and isinstance(second["frozen"], int)
    assert 1_000 < second["frozen"] <= first["frozen"]


@pytest.mark.parametrize("case", ["default", "off-already"])
def test_off_lambda_or_with_the_collector_already_off_nothing_changes(case: str) -> None:
    # Given a process outside Lambda (tests, the local stack, scripts), or one that had switched the collector
    # off itself
    seen = _run(case, on_lambda=case == "off-already")
    # Then the collector stays as it was, and nothing is frozen
    on = case == "default"
    assert seen["during"] == {"on": on, "frozen": 0}
    assert seen["first"] == seen["second"] == {"on": on, "frozen": 0}


# Imports gridshare and reads pydantic's plugin switch before and after.
_PLUGINS = """
import json, os
before = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
import gridshare.kernel.settings  # any first import of gridshare
print(json.dumps({"before": before, "after": os.environ.get("PYDANTIC_DISABLE_PLUGINS")}))
"""


@pytest.mark.parametrize(
    ("on_lambda", "preset", "after"),
    [(True, None, "__all__"), (False, None, None), (True, "some_plugin", "some_plugin")],
)
def test_on_lambda_pydantic_looks_for_no_plugins_unless_the_function_says_so(
    on_lambda: bool, preset: str | None, after: str | None
) -> None:
    # Given a fresh interpreter, on Lambda or not, with or without PYDANTIC_DISABLE_PLUGINS of its own
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{REPO / 'layers' / 'gridshare'}", "AWS_REGION": "us-east-1"}
    if on_lambda:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "init-phase"
    if preset is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = preset
    # When gridshare is imported
    done = subprocess.run(
        [sys.executable, "-c", _PLUGINS], env=env, capture_output=True, text=True, cwd="/", timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    # Then on Lambda pydantic's plugin discovery is off (a value the function set is kept); elsewhere untouched
    assert seen == {"before": preset, "after": after}
