"""What each Lambda entry point imports, and what the Lambda bundle can contain.

A package on an entry's import path is paid for on every cold start of that function
(bench/bench_cold_start.py measures it). Each entry module is imported in a fresh interpreter with
only the function code and the layer on sys.path, as on Lambda, and the test fails when sys.modules then
holds a package that entry must not import:

- no Lambda imports the local stack or test tooling (moto, gridshare_local, MQTT clients, awscrt,
  websockets, pytest, hypothesis, ...), nor boto3 (its clients are botocore's: gridshare.kernel.aws);
- no Lambda imports pydantic-settings (the settings are read without it; it only explains an invalid
  value) nor Powertools' batch utility and event data classes (gridshare.kernel.sqs_batch does that job);
- no event-driven Lambda (SQS, schedule, authorizer, WebSocket) imports the HTTP layer (chalice, jwt,
  cryptography), and those that do not validate request bodies import no pydantic;
- no API Lambda imports pydantic (nor pydantic_core) to answer a GET whose route parses neither a body nor
  a query, at import or while its view answers (the routes name their models: gridshare.http.api), nor a
  list GET with a plainly valid query (parsed by its model's spec: gridshare.http.lean_query); none but the market
  clearing imports numpy, and a settlement task imports no other context's service, at import;
- the ingest Lambda imports no jsonschema (imported only to explain a rejected message);
- the platform Lambda (public routes) imports no token verifier and no PynamoDB;
- no Lambda imports jwt or cryptography at import time: they are imported for the first token worth
  verifying, never to refuse a missing or malformed one, nor for a request API Gateway's authorizer
  allowed (its caller is taken from the event: decision 0030);
- the market API imports no numpy (the auction's), and an API Lambda imports another context's service
  only where a route declaration needs it at import (others are imported by the requests that use them);
- every PynamoDB connection uses the process's one botocore session, one client per setting (gridshare.kernel.aws);
- with Lambda's environment, an entry's imports run without the cyclic garbage collector, which the first
  invocation switches back on (gridshare.kernel.init_phase).

And the layer, built from pyproject's runtime dependencies (infra_cdk.constructs.shared), must not pull a
local-stack-only distribution: awscrt in particular, which botocore imports whenever it is installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.events import load_event

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
        "websockets",
        # clients are botocore's (gridshare.kernel.aws): boto3's resources and S3 transfers are used nowhere
        "boto3",
        # ULIDs are gridshare.kernel.ids' own (decision 0032); the package scanned installed packages at import
        "ulid",
        # what gridshare.kernel.settings and gridshare.kernel.sqs_batch replaced on every path
        "pydantic_settings",
        "dotenv",
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.data_classes",
        # verified tokens only: imported on the first token that needs its signature checked
        "jwt",
        "gridshare.http.auth",
    }
)
HTTP_LAYER = frozenset({"chalice", "jwt", "cryptography", "gridshare.http.api", "gridshare.http.auth"})
# An event-driven Lambda that validates no request body needs neither the HTTP layer nor pydantic, and
# imports numpy (the market's auction, the settlement's metering) only for work that needs it.
EVENTS_ONLY = HTTP_LAYER | {"pydantic", "pydantic_core", "jsonschema", "stripe", "aws_xray_sdk", "numpy"}
# A settlement task imports the other contexts' services it reads or posts to on first use (decision 0029)
SETTLEMENT_TASK = EVENTS_ONLY | {
    "gridshare.market.service",
    "gridshare.wallets.service",
    "gridshare.ledger.store",
    "gridshare.telemetry.service",
    "gridshare.sites.service",
    "gridshare.communities.service",
}

# entry module -> what it must not import besides NEVER_ON_LAMBDA
ENTRIES: dict[str, frozenset[str]] = {
    "functions.telemetry.ingest": EVENTS_ONLY,
    "functions.platform.lambda_app": frozenset({"cryptography", "pynamodb", "jsonschema", "stripe"}),
    "functions.identity.authorizer": EVENTS_ONLY | {"pynamodb"},
    # cryptography (the secrets envelope of 2FA) is imported by a 2FA request, not by every cold start
    "functions.identity.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk", "cryptography"}),
    "functions.devices.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.wallets.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.telemetry.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.devices.command_acks": EVENTS_ONLY,
    "functions.devices.shadow_documents": EVENTS_ONLY,
    "functions.devices.command_expiry": EVENTS_ONLY,
    "functions.devices.heartbeats": EVENTS_ONLY,
    "functions.devices.offline_sweep": EVENTS_ONLY,
    "functions.telemetry.rollup_job": EVENTS_ONLY | {"pynamodb"},
    "functions.telemetry.archive_job": EVENTS_ONLY | {"pynamodb"},
    # other contexts' services are imported by the requests that use them (only what a route declaration needs
    # at import, e.g. the wallets' investment bound for the sites)
    "functions.sites.lambda_app": frozenset(
        {"jsonschema", "aws_xray_sdk", "gridshare.devices.service", "gridshare.telemetry.service"}
    ),
    "functions.communities.lambda_app": frozenset(
        {"jsonschema", "stripe", "aws_xray_sdk", "gridshare.sites.service", "gridshare.identity.service"}
    ),
    "functions.grid.lambda_app": frozenset(
        {"jsonschema", "stripe", "aws_xray_sdk", "gridshare.devices.service", "gridshare.telemetry.service"}
    ),
    "functions.telemetry.timestream_sink": EVENTS_ONLY | {"pynamodb"},
    # numpy is the auction's (gridshare.market.clearing): imported by what clears, not by the order routes
    "functions.market.lambda_app": frozenset(
        {"jsonschema", "stripe", "aws_xray_sdk", "numpy"}
        | {"gridshare.wallets.service", "gridshare.sites.service", "gridshare.communities.service"}
    ),
    "functions.market.clearing": EVENTS_ONLY,
    "functions.settlement.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.settlement.prepare": SETTLEMENT_TASK,
    "functions.settlement.settle_shard": SETTLEMENT_TASK,
    "functions.settlement.finalize": SETTLEMENT_TASK,
    "functions.settlement.mark_failed": SETTLEMENT_TASK,
    "functions.settlement.scheduler": SETTLEMENT_TASK,
    "functions.notifications.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk"}),
    "functions.notifications.notifier": EVENTS_ONLY,
    "functions.notifications.settlement": EVENTS_ONLY,
    "functions.notifications.deliveries": EVENTS_ONLY,
    "functions.notifications.live": EVENTS_ONLY,
    # the token check imports jwt on the first $connect with a token, never chalice
    "functions.notifications.websocket": EVENTS_ONLY,
    "functions.alerts.lambda_app": frozenset({"jsonschema", "stripe", "aws_xray_sdk", "gridshare.devices.service"}),
    "functions.alerts.evaluator": EVENTS_ONLY,
    "functions.alerts.reminders": EVENTS_ONLY,
}

# What the Lambda runtime sets and the entries read at import (AWS_LAMBDA_FUNCTION_NAME: gridshare.kernel.init_phase)
LAMBDA_ENV = {"AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "import-graph"}

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
module = importlib.import_module(sys.argv[1])
shared = None
if "pynamodb.connection.base" in sys.modules:
    import gridshare.kernel.aws as aws
    shared = sys.modules["pynamodb.connection.base"].get_session is aws.pynamodb_session
import gc
collector_on = gc.isenabled()
from gridshare.kernel.observability import LambdaEntry
observed = isinstance(getattr(module, "handler", None), LambdaEntry) if hasattr(module, "handler") else None
print(json.dumps({"modules": sorted(sys.modules), "shared_session": shared, "collector_on": collector_on,
                  "observed": observed}))
"""


def _import_in_fresh_interpreter(module: str) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{REPO / 'layers' / 'gridshare'}", **LAMBDA_ENV}
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
    # and the imports ran without the cyclic garbage collector (gridshare is the entry's first import); a
    # plain handler is a LambdaEntry, whose first invocation switches it back on (the API apps: below)
    assert result["collector_on"] is False
    assert result["observed"] is (True if entry.rsplit(".", 1)[1] != "lambda_app" else None)


# Runs in the fresh interpreter: imports the entry, answers one event, lists what is loaded then.
_ANSWER = """
import importlib, json, sys
class _NotInLayer:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "awscrt":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, _NotInLayer())
module, attribute, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
class Context:
    function_name = "import-graph"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:import-graph"
try:
    answer = getattr(importlib.import_module(module), attribute)(event, Context())
    answer = answer.get("statusCode")
except Exception as exc:
    answer = str(exc)
import gc
collector = {"collector_on": gc.isenabled(), "frozen": gc.get_freeze_count()}
print(json.dumps({"modules": sorted(sys.modules), "answer": answer, **collector}))
"""


def _answer_in_fresh_interpreter(
    module: str, attribute: str, event: dict[str, object], env: dict[str, str] | None = None
) -> dict[str, object]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{REPO}:{REPO / 'layers' / 'gridshare'}",
        **LAMBDA_ENV,
        **(env or {}),
    }
    done = subprocess.run(
        [sys.executable, "-c", _ANSWER, module, attribute, json.dumps(event)],
        env=env,
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def _unauthenticated_get(context: str) -> dict[str, object]:
    """API Gateway's event for the context's first protected GET route, without an Authorization header."""
    from gridshare.contexts import import_routes
    from gridshare.http.api import ROUTES

    import_routes(context)
    spec = next(r for r in ROUTES if r.context == context and r.protected and r.method == "GET")
    names = re.findall(r"{(\w+)}", spec.path)
    path = re.sub(r"{(\w+)}", "01J2ZA3F7H9K2M4N6P8Q0R1S3T", spec.path)
    event = load_event(
        "apigw_rest_proxy_get_me",
        **{"resource": spec.path, "path": path, "requestContext.resourcePath": spec.path},
    )
    event["pathParameters"] = {name: "01J2ZA3F7H9K2M4N6P8Q0R1S3T" for name in names} or None
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Authorization")
    return event


TOKEN_LIBS = ("jwt", "cryptography", "pynamodb")
API_ENTRIES = sorted(e for e in ENTRIES if e.endswith(".lambda_app") and e != "functions.platform.lambda_app")


@pytest.mark.parametrize("entry", API_ENTRIES)
def test_an_api_lambda_refuses_a_missing_token_without_the_token_verifier(entry: str) -> None:
    # Given a fresh API Lambda and a request to one of its protected routes without a token
    event = _unauthenticated_get(entry.split(".")[1])
    # When it answers
    result = _answer_in_fresh_interpreter(entry, "app", event)
    # Then it is a 401, and neither jwt nor the verifier module was imported for it
    modules = result["modules"]
    assert isinstance(modules, list)
    assert result["answer"] == 401
    assert sorted(p for p in ("jwt", "gridshare.http.auth") if _imported(modules, p)) == []
    # and the first invocation ended the init phase: the collector is back on, the imports frozen
    assert result["collector_on"] is True and isinstance(result["frozen"], int) and result["frozen"] > 10_000


# No AWS in the fresh interpreter: DynamoDB is a closed port, asked once, so the revocation read fails fast.
_NO_DYNAMODB = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard",
}


@pytest.mark.parametrize("entry", API_ENTRIES)
def test_an_api_lambda_takes_the_authorizers_caller_without_the_token_verifier(entry: str) -> None:
    # Given a fresh API Lambda and a request to a protected route as API Gateway sends it after the TOKEN
    # authorizer allowed the token: its caller in requestContext.authorizer (decision 0030)
    event = _unauthenticated_get(entry.split(".")[1])
    headers = event["headers"]
    assert isinstance(headers, dict)
    headers["Authorization"] = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    authorizer = event["requestContext"]["authorizer"]  # type: ignore[index]
    authorizer["exp"] = "4102444800"  # 2100: unexpired
    # When it answers (the revocation read finds no DynamoDB here: a 500 after the token was taken)
    result = _answer_in_fresh_interpreter(entry, "app", event, _NO_DYNAMODB)
    # Then neither jwt, cryptography nor the verifier module was imported for it
    modules = result["modules"]
    assert isinstance(modules, list)
    assert result["answer"] == 500
    assert _imported(modules, "gridshare.http.revocations")
    assert sorted(p for p in ("jwt", "cryptography", "gridshare.http.auth") if _imported(modules, p)) == []


@pytest.mark.parametrize(
    ("entry", "attribute", "event", "answer", "unused"),
    [
        ("functions.identity.authorizer", "handler", {"type": "TOKEN", "methodArn": "arn"}, "Unauthorized", TOKEN_LIBS),
        (
            "functions.identity.authorizer",
            "handler",
            {"type": "TOKEN", "authorizationToken": "Bearer ACCESS_TOKEN_PLACEHOLDER", "methodArn": "arn"},
            "Unauthorized",
            TOKEN_LIBS,
        ),
        (
            "functions.notifications.websocket",
            "handler",
            {"requestContext": {"routeKey": "$connect", "connectionId": "c-1", "requestId": "r-1"}},
            401,
            ("jwt", "cryptography"),  # its connection store (PynamoDB) is imported with the routes
        ),
    ],
)
def test_a_missing_or_malformed_token_is_refused_without_jwt(
    entry: str, attribute: str, event: dict[str, object], answer: object, unused: tuple[str, ...]
) -> None:
    # Given a fresh authorizer or WebSocket Lambda and a request without a usable token
    result = _answer_in_fresh_interpreter(entry, attribute, event)
    # Then it is refused, and neither jwt nor cryptography (nor, for the authorizer, PynamoDB) was imported
    modules = result["modules"]
    assert isinstance(modules, list)
    assert result["answer"] == answer
    assert sorted(p for p in unused if _imported(modules, p)) == []
    assert result["collector_on"] is True


def test_every_lambda_entry_point_is_checked() -> None:
    # Given the entry modules under functions/
    found = {
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in (REPO / "functions").glob("*/*.py")
        if path.name != "__init__.py"
    }
    # Then each has its row above
    assert found == set(ENTRIES)


def test_the_cold_start_bench_measures_every_lambda_entry_point() -> None:
    # Given the entry modules under functions/ (each a deployed handler: test above)
    found = {
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in (REPO / "functions").glob("*/*.py")
        if path.name != "__init__.py"
    }
    # When the cold-start bench lists its rows
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench_cold_start
    finally:
        sys.path.remove(str(REPO / "bench"))
    measured = {module for _, module, _, _ in bench_cold_start.entries()}
    # Then each entry has at least one row
    assert sorted(found - measured) == []


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


# Runs in the fresh interpreter: DynamoDB is moto's (in process, started before anything imports boto3); the
# entry is imported, the tables created, and one event answered by the view itself. (awscrt stays importable
# here: moto asks for it; what this probe checks is pydantic.)
_ANSWER_WITH_TABLES = """
import importlib, json, sys
from moto import mock_aws
mock_aws().start()
module, attribute, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
handler = getattr(importlib.import_module(module), attribute)
from gridshare.contexts import ensure_tables
ensure_tables()
class Context:
    function_name = "import-graph"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:import-graph"
answer = handler(event, Context())
print(json.dumps({"modules": sorted(sys.modules), "answer": answer.get("statusCode"), "body": answer.get("body")}))
"""

# A sample event's placeholder id: the views look it up and answer (e.g. 404 for a device nobody registered)
_SAMPLE_ID = "01J2ZA3F7H9K2M4N6P8Q0R1S3T"
PLAIN_GET_ENTRIES = sorted(e for e in ENTRIES if e.endswith(".lambda_app"))


def _plain_get(context: str, spec: Any = None) -> tuple[str, dict[str, object]]:
    """The context's first GET route that parses neither a body nor a query (or `spec`), and API Gateway's
    event for it: for a protected route, as API Gateway sends it after the TOKEN authorizer allowed the token
    (its caller in requestContext.authorizer, in a role the route admits: decision 0030)."""
    from gridshare.contexts import import_routes
    from gridshare.http.api import ROUTES

    import_routes(context)
    spec = spec or next(
        r
        for r in ROUTES
        if r.context == context
        and r.method == "GET"
        and r.body_ref is None
        and r.query_ref is None
        and not r.local_only
    )
    path = re.sub(r"{(\w+)}", _SAMPLE_ID, spec.path)
    role = "prosumer" if spec.roles is None or "prosumer" in spec.roles else sorted(spec.roles)[0]
    event = load_event(
        "apigw_rest_proxy_get_me",
        **{
            "resource": spec.path,
            "path": path,
            "requestContext.resourcePath": spec.path,
            "requestContext.path": f"/dev{path}",
            "requestContext.authorizer.role": role,
            "requestContext.authorizer.groups": role,
            "requestContext.authorizer.exp": "4102444800",  # 2100: unexpired
            "headers.Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        },
    )
    event["pathParameters"] = {name: _SAMPLE_ID for name in re.findall(r"{(\w+)}", spec.path)} or None
    if spec.roles is None:
        event["requestContext"]["authorizer"] = None  # type: ignore[index]
        for headers in (event["headers"], event["multiValueHeaders"]):
            headers.pop("Authorization")  # type: ignore[attr-defined]
    return f"GET {spec.path}", event


def _answer_with_tables(entry: str, event: dict[str, object]) -> dict[str, Any]:
    """What a fresh API Lambda (`entry`, over moto's tables) answers to `event`, and what it imported."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{REPO / 'layers' / 'gridshare'}", **LAMBDA_ENV, **env}
    done = subprocess.run(
        [sys.executable, "-c", _ANSWER_WITH_TABLES, entry, "app", json.dumps(event)],
        env=full_env,
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("entry", PLAIN_GET_ENTRIES)
def test_an_api_lambda_answers_a_get_without_a_body_or_query_without_pydantic(entry: str) -> None:
    # Given a fresh API Lambda, its tables (moto), and a GET of one of its routes with neither a body nor a
    # query model (e.g. GET /v1/me, GET /v1/wallet), from a caller the authorizer allowed
    route, event = _plain_get(entry.split(".")[1])
    result = _answer_with_tables(entry, event)
    # When its view answers (the caller's object, or 404 for the sample id nobody created)
    assert result["answer"] in (200, 404), f"{route}: {result['answer']} {result['body']}"
    # Then neither pydantic nor pydantic_core was imported, at import or while answering (the route's
    # models are named, and resolved only by a request that parses a body or a query: gridshare.http.api)
    modules = result["modules"]
    assert sorted(p for p in ("pydantic", "pydantic_core") if _imported(modules, p)) == [], route


def _list_get(context: str) -> tuple[str, dict[str, object]] | None:
    """The context's first GET route whose query the lean parser reads (gridshare.http.lean_query; no required
    parameter, no path parameter if it has such a route), and API Gateway's event for it with a plainly valid
    query (`limit=10`, or none), from a caller the authorizer allowed; None if the context has none."""
    from gridshare.contexts import import_routes
    from gridshare.http.api import ROUTES
    from gridshare.http.query_specs import SPECS

    import_routes(context)

    def lean(route: object) -> dict[str, object] | None:
        names, ref = getattr(route, "names", None), getattr(route, "query_ref", None)
        spec = SPECS.get(f"{names.requests}:{ref}") if names is not None and isinstance(ref, str) else None
        if spec is None or "unsupported" in spec or any(f.get("required") for f in spec["fields"]):
            return None
        return spec

    candidates = [
        r for r in ROUTES if r.context == context and r.method == "GET" and not r.local_only and lean(r) is not None
    ]
    if not candidates:
        return None
    spec = min(candidates, key=lambda r: "{" in r.path)  # stable: the first without path parameters, if any
    fields = lean(spec)["fields"]  # type: ignore[index]
    query = {"limit": "10"} if any(f["alias"] == "limit" for f in fields) else {}  # type: ignore[attr-defined]
    route, event = _plain_get(context, spec)
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return route + "".join(f"{'&' if i else '?'}{k}={v}" for i, (k, v) in enumerate(query.items())), event


LIST_GET_ENTRIES = [e for e in PLAIN_GET_ENTRIES if e != "functions.platform.lambda_app"]


@pytest.mark.parametrize("entry", LIST_GET_ENTRIES)
def test_an_api_lambda_answers_a_list_with_a_valid_query_without_pydantic(entry: str) -> None:
    # Given a fresh API Lambda, its tables (moto), and a GET whose query model the lean parser reads (e.g.
    # GET /v1/sites?limit=10) with a plainly valid query, from a caller the authorizer allowed
    found = _list_get(entry.split(".")[1])
    if found is None:
        pytest.skip(f"{entry}: no GET route with a lean-parsed query")
    route, event = found
    result = _answer_with_tables(entry, event)
    # When its view answers (a page, or 404 for the sample id nobody created)
    assert result["answer"] in (200, 404), f"{route}: {result['answer']} {result['body']}"
    # Then the query was parsed without pydantic: neither it nor pydantic_core, nor the context's request
    # models, was imported (gridshare.http.api resolves the model only when the lean parser declines)
    modules = result["modules"]
    assert sorted(p for p in ("pydantic", "pydantic_core") if _imported(modules, p)) == [], route
    assert [m for m in modules if re.fullmatch(r"gridshare\.(\w+\.requests|http\.models)", m)] == [], route
    assert "gridshare.http.lean_query" in modules, route


# A service other contexts call builds its use-case groups on first use: what they import is paid only by
# the requests that use them (SettleShard posts through the wallets without Stripe's gateway, and reads
# trades through the market without the order use cases or the fee rules).
LAZY_GROUPS: dict[str, tuple[str, ...]] = {
    "gridshare.wallets.service": (
        "gridshare.wallets.stripe_gateway",
        "gridshare.wallets.topups",
        "gridshare.wallets.refunds",
        "gridshare.wallets.withdrawals",
        "gridshare.wallets.statements",
        "gridshare.wallets.reports",
        "gridshare.wallets.sales",
        "gridshare.wallets.investments",
        "gridshare.wallets.reservations",
    ),
    "gridshare.market.service": (
        "gridshare.market.orders",
        "gridshare.market.market_data",
        "gridshare.market.config",
        "gridshare.market.fees",
        "gridshare.market.clearing_run",
    ),
}


@pytest.mark.parametrize("service", sorted(LAZY_GROUPS))
def test_a_service_imports_its_use_case_groups_on_first_use(service: str) -> None:
    modules = _import_in_fresh_interpreter(service)["modules"]
    assert isinstance(modules, list)
    assert service in modules
    assert sorted(m for m in LAZY_GROUPS[service] if m in modules) == []
