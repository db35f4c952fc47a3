"""What each Lambda entry point imports, and what the Lambda bundle can contain.

A package on an entry's import path is paid for on every cold start of that function
(bench/bench_cold_start.py measures it). Each entry module is imported in a fresh interpreter with
only the function code and the layer on sys.path, as on Lambda, and the test fails when sys.modules then
holds a package that entry must not import:

- no Lambda imports the local stack or test tooling (moto, gridshare_local, MQTT clients, pytest, ...);
- the ingest Lambda imports no HTTP layer (chalice, jwt, cryptography) and no jsonschema (imported only
  to explain a rejected message);
- the platform Lambda (public routes) imports no token verifier and no PynamoDB;
- every PynamoDB connection uses the process's one botocore session (gridshare.kernel.aws).

And the layer, built from pyproject's runtime dependencies (infra_cdk.constructs.shared), must not pull a
local-stack-only distribution: awscrt in particular, which botocore imports whenever it is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]

NEVER_ON_LAMBDA = frozenset(
    {
        "moto",
        "gridshare_local",
        "paho",
        "awsiot",
        "awscrt",
        "pytest",
        "_pytest",
        "hypothesis",
        "schemathesis",
        "aws_cdk",
        "constructs",
        "jsii",
        "cfnlint",
        "infra_cdk",
        "tests",
    }
)
HTTP_LAYER = frozenset({"chalice", "jwt", "cryptography", "gridshare.http.api", "gridshare.http.auth"})

# entry module -> what it must not import besides NEVER_ON_LAMBDA
ENTRIES: dict[str, frozenset[str]] = {
    "functions.telemetry.ingest": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.platform.lambda_app": frozenset({"jwt", "cryptography", "pynamodb", "jsonschema", "stripe"}),
    "functions.identity.authorizer": frozenset({"chalice", "jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.identity.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.devices.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.wallets.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.telemetry.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.devices.command_acks": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.devices.shadow_documents": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.devices.command_expiry": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.devices.heartbeats": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.devices.offline_sweep": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.telemetry.rollup_job": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.telemetry.archive_job": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk", "pynamodb"},
    "functions.sites.lambda_app": frozenset({"jsonschema", "aws_xray_sdk"}),
    "functions.communities.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.grid.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.telemetry.timestream_sink": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk", "pynamodb"},
    "functions.market.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.market.clearing": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.settlement.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.settlement.prepare": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.settlement.settle_shard": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.settlement.finalize": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.settlement.mark_failed": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.settlement.scheduler": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.notifications.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk", "websockets"}),
    "functions.notifications.notifier": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk", "websockets"},
    "functions.notifications.settlement": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk", "websockets"},
    "functions.notifications.deliveries": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk", "websockets"},
    "functions.notifications.live": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk", "websockets"},
    # the token check imports jwt on the first $connect, never chalice; websockets is the local server's
    "functions.notifications.websocket": frozenset({"chalice", "jsonschema", "stripe", "aws_xray_sdk", "websockets"}),
    "functions.alerts.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.alerts.evaluator": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
    "functions.alerts.reminders": HTTP_LAYER | {"jsonschema", "stripe", "aws_xray_sdk"},
}

LOCAL_ONLY_DISTRIBUTIONS = frozenset(
    canonicalize_name(n)
    for n in (
        "moto",
        "awscrt",
        "awsiotsdk",
        "paho-mqtt",
        "pytest",
        "hypothesis",
        "schemathesis",
        "aws-cdk-lib",
        "constructs",
        "cfn-lint",
    )
)

# Runs in the fresh interpreter. awscrt is made unimportable first: it is installed here for the local
# stack but is not in the layer (test below), and botocore would import it because it can.
_PROBE = """
import importlib, json, sys
class _NotInLayer:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "awscrt":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, _NotInLayer())
importlib.import_module(sys.argv[1])
shared = None
if "pynamodb.connection.base" in sys.modules:
    import gridshare.kernel.aws as aws
    shared = sys.modules["pynamodb.connection.base"].get_session is aws.botocore_session
print(json.dumps({"modules": sorted(sys.modules), "shared_session": shared}))
"""


def _import_in_fresh_interpreter(module: str) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{REPO / 'layers' / 'gridshare'}", "AWS_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module], env=env, capture_output=True, text=True, cwd="/", timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def _imported(modules: list[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in modules)


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_a_lambda_entry_imports_nothing_it_must_not(entry: str) -> None:
    # Given a Lambda entry module and what it must not import
    forbidden = NEVER_ON_LAMBDA | ENTRIES[entry]
    # When it is imported in a fresh interpreter with Lambda's sys.path
    result = _import_in_fresh_interpreter(entry)
    modules = result["modules"]
    assert isinstance(modules, list)
    # Then none of those packages is loaded, and PynamoDB (if loaded) shares the one botocore session
    assert entry in modules
    assert sorted(p for p in forbidden if _imported(modules, p)) == []
    assert result["shared_session"] in (None, True)


def test_every_lambda_entry_point_is_checked() -> None:
    # Given the entry modules under functions/
    found = {
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in (REPO / "functions").glob("*/*.py")
        if path.name != "__init__.py"
    }
    # Then each has its row above
    assert found == set(ENTRIES)


def _closure(requirements: list[str]) -> set[str]:
    """Distributions pip installs for these requirements, from the installed distributions' metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        requirement, from_extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": from_extra}):
            continue
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(name)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for extra in ("", *requirement.extras):
            todo.extend((Requirement(r), extra) for r in requires)
    return names


def test_the_lambda_layer_pulls_no_local_stack_distribution() -> None:
    # Given the layer's requirements: pyproject's runtime dependencies
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # When they are resolved with their own requirements (as installed here)
    closure = _closure(project["dependencies"])
    # Then nothing only the local stack, the tests or CDK use is among them (awscrt: botocore imports it
    # on every cold start when present; it is here only for awsiotsdk)
    assert "botocore" in closure and "msgspec" in closure
    assert sorted(closure & LOCAL_ONLY_DISTRIBUTIONS) == []
