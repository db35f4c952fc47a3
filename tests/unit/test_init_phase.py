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
default_thresholds = gc.get_threshold()
from gridshare.kernel.observability import lambda_request_id, observed

@observed(correlation_id=lambda_request_id)
def handler(event, context):
    if event.get("raise"):
        raise RuntimeError("the first invocation fails")
    return {"on": gc.isenabled(), "frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}

class Context:
    function_name = "init-phase"
    aws_request_id = "r-1"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:init-phase"

try:
    first = handler({"raise": sys.argv[1] == "first-raises"}, Context())
except RuntimeError:
    first = {"raised": True}
second = handler({}, Context())
print(json.dumps({"during": during, "first": first, "second": second, "default": default_thresholds}))
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


def test_on_lambda_the_imports_run_without_the_collector_and_the_first_invocation_collects_only_young() -> None:
    # Given a fresh interpreter with Lambda's environment
    # When gridshare is imported, then an observed handler is invoked twice
    seen = _run("default", on_lambda=True)
    # Then the collector is off during the imports; the first invocation runs with the init phase's objects
    # frozen and only the young generation collected as usual (the older ones rarely or never); from the
    # second on, the collector has its usual thresholds and what the first invocation kept is frozen too
    # (a frozen object that reference counting frees leaves the count)
    assert seen["during"] == {"on": False, "frozen": 0}
    first, second, default = seen["first"], seen["second"], seen["default"]
    assert first["on"] is True and isinstance(first["frozen"], int) and first["frozen"] > 1_000
    assert first["thresholds"][0] == default[0] and first["thresholds"][2] >= 1_000_000
    assert second["on"] is True and second["thresholds"] == default
    assert isinstance(second["frozen"], int) and second["frozen"] > 1_000


def test_a_first_invocation_that_raises_still_restores_the_collector() -> None:
    # Given a fresh interpreter with Lambda's environment, and a handler whose first invocation raises
    seen = _run("first-raises", on_lambda=True)
    # Then the second invocation runs with the collector on, its usual thresholds, and the objects frozen
    assert seen["first"] == {"raised": True}
    second = seen["second"]
    assert second["on"] is True and second["thresholds"] == seen["default"]
    assert isinstance(second["frozen"], int) and second["frozen"] > 1_000


@pytest.mark.parametrize("case", ["default", "off-already"])
def test_off_lambda_or_with_the_collector_already_off_nothing_changes(case: str) -> None:
    # Given a process outside Lambda (tests, the local stack, scripts), or one that had switched the collector
    # off itself
    seen = _run(case, on_lambda=case == "off-already")
    # Then the collector stays as it was, and nothing is frozen
    on = case == "default"
    assert seen["during"] == {"on": on, "frozen": 0}
    assert seen["first"] == seen["second"] == {"on": on, "frozen": 0, "thresholds": seen["default"]}


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
