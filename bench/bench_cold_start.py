"""Cold starts: each Lambda entry point's import + first response in a fresh interpreter, against a floor.

The floor is what any Python Lambda that talks to DynamoDB pays: `import boto3` and one client. Each entry
is then measured the same way: a new interpreter imports the entry module (as the Lambda runtime does) and
answers one sample event from events/, and the time from before the import to the answer is taken. The
median of N runs per row is printed with its ratio to the floor's median, in wall time and in the process's
CPU time (goal: <= 1.25). The wall time also holds what an entry waits for its AWS calls' answers (the floor
makes none): here that is moto's work in this process, several ms per call, so the CPU time and the
instruction count (`--instructions`) are the measures of the entry's own work.

    .venv/bin/python bench/bench_cold_start.py            # N = 7
    .venv/bin/python bench/bench_cold_start.py --runs 15 --only ingest
    .venv/bin/python bench/bench_cold_start.py --instructions   # instructions counted by valgrind

`--instructions` runs every row once under valgrind (callgrind, PYTHONHASHSEED=0) and reports the
instructions the process executed to its first answer: a figure that does not move with the machine's
load (time does, and not alike for the floor and the entries), so two checkouts or two moments compare
exactly. It leaves out what the kernel does for the process (system calls, page faults), which the CPU-time
ratio includes. Every process ends right after its answer (`os._exit`): a Lambda container is not torn
down on the way to its first response, so the interpreter's finalization is not counted.

The entries import botocore with its data as the layer ships it: the services the functions use, minified,
without documentation (infra_cdk.botocore_data, decision 0036; a prepared copy of botocore on their path).
The floor imports botocore as pip installs it, as any Python function has it. `--stock-botocore` gives the
entries that too.

AWS is a moto server started by this script (tables created from the PynamoDB models), reached through
AWS_ENDPOINT_URL as the local stack does: the entries' first answers make their real DynamoDB calls over
HTTP, and the child interpreters never import moto. Rows run interleaved (floor, every entry, floor,
...), so a burst of load on a shared machine hits every row alike.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "gridshare")]

from tests.support.events import load_event  # noqa: E402 - the repository is not installed when run as a script


def _get(path: str, resource: str | None = None, **overrides: Any) -> dict[str, Any]:
    """API Gateway's proxy event for GET `path` (its route template `resource`), with the sample event's
    placeholder token (not a JWT, so the route guard answers 401) unless `overrides` bring another."""
    resource = resource or path
    return load_event(
        "apigw_rest_proxy_get_me",
        **{
            "resource": resource,
            "path": path,
            "requestContext.resourcePath": resource,
            "requestContext.path": f"/dev{path}",
        },
        **overrides,
    )


def _sqs(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS batch event (the telemetry sample's record shape) holding these bodies."""
    template = load_event("sqs_telemetry_batch")["Records"][0]
    records = []
    for number, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                **template,
                "messageId": f"00000000-0000-4000-8000-{number:012d}",
                "body": text,
                "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
            }
        )
    return {"Records": records}


def _rule_projection(thing: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """An IoT rule's projection of a device message: {payload (base64), thing_name, received_at}."""
    body: dict[str, Any] = {"thing_name": thing, "received_at": 1718000000150}
    if document is not None:
        body["payload"] = base64.b64encode(json.dumps(document).encode()).decode()
    return body


# What EventBridge Scheduler sends (our schedules' input is ignored: "now" is the kernel clock's).
_SCHEDULE: dict[str, Any] = {}
_THING = "gs-01j2za3f7h9k2m4n6p8q0r1s3t"


def entries() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(row, entry module, handler attribute, event) for every Lambda entry point under functions/."""
    alert = load_event("eventbridge_alert_opened")
    token = access_token()
    bearer = {"headers.Authorization": f"Bearer {token}", "multiValueHeaders.Authorization": [f"Bearer {token}"]}
    # the authorizer's context for that token, as API Gateway hands it over (decision 0030): its times
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    bearer |= {f"requestContext.authorizer.{name}": str(claims[name]) for name in ("iat", "exp")}
    return [
        ("platform GET /health", "functions.platform.lambda_app", "app", load_event("apigw_rest_proxy_get_health")),
        ("identity GET /v1/me", "functions.identity.lambda_app", "app", load_event("apigw_rest_proxy_get_me")),
        ("identity authorizer", "functions.identity.authorizer", "handler", load_event("apigw_authorizer_token")),
        (
            "identity authorizer (valid token)",
            "functions.identity.authorizer",
            "handler",
            load_event("apigw_authorizer_token", authorizationToken=f"Bearer {token}"),
        ),
        (
            "identity GET /v1/me (valid token)",
            "functions.identity.lambda_app",
            "app",
            load_event("apigw_rest_proxy_get_me", **bearer),
        ),
        (
            "devices GET /v1/devices/{id} (valid token)",
            "functions.devices.lambda_app",
            "app",
            load_event("apigw_rest_proxy_get_device", **bearer),
        ),
        (
            "devices GET /v1/devices/{id}",
            "functions.devices.lambda_app",
            "app",
            load_event("apigw_rest_proxy_get_device"),
        ),
        ("wallets GET /v1/wallet", "functions.wallets.lambda_app", "app", _get("/v1/wallet")),
        (
            "telemetry GET .../readings/latest",
            "functions.telemetry.lambda_app",
            "app",
            load_event(
                "apigw_rest_proxy_get_device",
                **{
                    "resource": "/v1/devices/{id}/readings/latest",
                    "path": "/v1/devices/01J2ZA3F7H9K2M4N6P8Q0R1S3T/readings/latest",
                    "requestContext.resourcePath": "/v1/devices/{id}/readings/latest",
                    "requestContext.path": "/dev/v1/devices/01J2ZA3F7H9K2M4N6P8Q0R1S3T/readings/latest",
                },
            ),
        ),
        ("sites GET /v1/sites", "functions.sites.lambda_app", "app", _get("/v1/sites")),
        # a list with a valid token: its query (limit, cursor, filters) is parsed by its pydantic model
        ("sites GET /v1/sites (valid token)", "functions.sites.lambda_app", "app", _get("/v1/sites", **bearer)),
        ("communities GET /v1/communities", "functions.communities.lambda_app", "app", _get("/v1/communities")),
        ("grid GET /v1/grid/nodes", "functions.grid.lambda_app", "app", _get("/v1/grid/nodes")),
        ("market GET /v1/market/orders", "functions.market.lambda_app", "app", _get("/v1/market/orders")),
        ("alerts GET /v1/alerts", "functions.alerts.lambda_app", "app", _get("/v1/alerts")),
        (
            "notifications GET .../notification-prefs",
            "functions.notifications.lambda_app",
            "app",
            _get("/v1/me/notification-preferences"),
        ),
        (
            "telemetry ingest (SQS, 1 valid reading)",
            "functions.telemetry.ingest",
            "handler",
            {"Records": load_event("sqs_telemetry_batch")["Records"][:1]},
        ),
        (
            "telemetry ingest (SQS, 3 records)",
            "functions.telemetry.ingest",
            "handler",
            load_event("sqs_telemetry_batch"),
        ),
        ("telemetry rollup_job (schedule)", "functions.telemetry.rollup_job", "handler", _SCHEDULE),
        (
            "telemetry archive_job (schedule)",
            "functions.telemetry.archive_job",
            "handler",
            {"segment": 0, "totalSegments": 1},
        ),
        (
            "telemetry timestream_sink (SQS, empty)",
            "functions.telemetry.timestream_sink",
            "handler",
            # No readings: moto's Timestream needs endpoint discovery, which a process without moto cannot
            # follow (it answers with the AWS host), so this row makes no Timestream call.
            _sqs(load_event("eventbridge_readings_accepted", **{"detail.readings": []})),
        ),
        (
            "devices command_acks (SQS)",
            "functions.devices.command_acks",
            "handler",
            load_event("sqs_command_ack_batch"),
        ),
        ("devices command_expiry (schedule)", "functions.devices.command_expiry", "handler", _SCHEDULE),
        ("devices heartbeats (SQS)", "functions.devices.heartbeats", "handler", _sqs(_rule_projection(_THING))),
        ("devices offline_sweep (schedule)", "functions.devices.offline_sweep", "handler", _SCHEDULE),
        (
            "devices shadow_documents (SQS)",
            "functions.devices.shadow_documents",
            "handler",
            _sqs(_rule_projection(_THING, {"current": {"state": {"reported": {"firmwareVersion": "1.4.2"}}}})),
        ),
        ("market clearing (schedule)", "functions.market.clearing", "handler", _SCHEDULE),
        (
            "settlement GET /v1/settlements",
            "functions.settlement.lambda_app",
            "app",
            _get("/v1/settlements"),
        ),
        ("settlement scheduler (schedule)", "functions.settlement.scheduler", "handler", _SCHEDULE),
        (
            "settlement prepare (task)",
            "functions.settlement.prepare",
            "handler",
            {"runId": RUN_ID, "from": RUN_FROM, "to": RUN_FROM + RUN_SPAN, "trigger": "admin"},
        ),
        (
            "settlement settle_shard (task, empty shard)",
            "functions.settlement.settle_shard",
            "handler",
            {"runId": RUN_ID, "shard": {"shard": 0, "sites": [], "trades": []}},
        ),
        ("settlement finalize (task)", "functions.settlement.finalize", "handler", {"runId": RUN_ID, "shards": 0}),
        (
            "settlement mark_failed (task)",
            "functions.settlement.mark_failed",
            "handler",
            {
                "input": {"runId": RUN_ID},
                "error": {"Error": "States.TaskFailed", "Cause": "a cold-start bench row"},
            },
        ),
        (
            "alerts evaluator (SQS, readings)",
            "functions.alerts.evaluator",
            "handler",
            _sqs(load_event("eventbridge_readings_accepted")),
        ),
        ("alerts reminders (schedule)", "functions.alerts.reminders", "handler", _SCHEDULE),
        ("notifications notifier (SQS, alert)", "functions.notifications.notifier", "handler", _sqs(alert)),
        (
            "notifications settlement (SQS, completed)",
            "functions.notifications.settlement",
            "handler",
            _sqs(
                {
                    "source": "gridshare.settlement",
                    "detail-type": "SettlementCompleted",
                    "detail": {
                        "runId": RUN_ID,
                        "intervals": ["2024-06-10T06:00:00Z"],
                        "parties": [USER_ID],
                        "part": 1,
                        "parts": 1,
                    },
                }
            ),
        ),
        (
            "notifications deliveries (SQS, sms)",
            "functions.notifications.deliveries",
            "handler",
            _sqs(
                {
                    "channel": "sms",
                    "recipient": alert["detail"]["ownerId"],
                    "alert": alert["detail"]["alert"],
                    "occurrence": alert["detail"]["occurrence"],
                }
            ),
        ),
        (
            "notifications live (SQS, readings)",
            "functions.notifications.live",
            "handler",
            _sqs(load_event("eventbridge_readings_accepted")),
        ),
        (
            "notifications websocket $connect",
            "functions.notifications.websocket",
            "handler",
            {
                "requestContext": {
                    "routeKey": "$connect",
                    "eventType": "CONNECT",
                    "connectionId": "L0SM9cOFvHcCIhw=",
                    "requestId": "L0SM9FmIvHcFfZQ=",
                    "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
                    "stage": "dev",
                    "apiId": "abcdef1234",
                    "connectedAt": 1718000000000,
                    "requestTimeEpoch": 1718000000000,
                },
                "isBase64Encoded": False,
            },
        ),
    ]


FLOOR = "floor: import boto3 + 1 client"

# Before the clock starts: packages this machine has but a Lambda does not (see LAMBDA_ABSENT).
_HIDE_CODE = """
import sys
class _AbsentOnLambda:
    absent = tuple(sys.argv.pop(1).split(","))
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.absent:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the Lambda bundle)", name=name)
        return None
sys.meta_path.insert(0, _AbsentOnLambda())
"""
LAMBDA_ABSENT = ("awscrt",)
"""Installed here for the local stack (awsiotsdk needs it), absent from the Lambda layer (no runtime
dependency requires it; tests/unit/test_import_graph.py checks that): botocore imports it when it can
(~35 ms), so a Lambda-like measurement hides it from floor and entries alike."""

# Ends the fresh interpreter right after its answer, as a Lambda container's first response is not followed
# by a teardown: the interpreter's finalization (a last full collection, every module's objects freed) is no
# part of a cold start, and it is not alike for the floor and an entry (whose init phase is frozen).
_EXIT_CODE = """
import os
sys.stdout.flush()
os._exit(0)
"""
# Runs in the fresh interpreter: time from before the first import to the first answer, in ms.
_FLOOR_CODE = (
    _HIDE_CODE
    + """
import time
started, cpu = time.perf_counter(), time.process_time()
import boto3
boto3.client("dynamodb")
elapsed = round((time.perf_counter() - started) * 1000, 1)
print(elapsed, elapsed, round((time.process_time() - cpu) * 1000, 1), "client")
"""
    + _EXIT_CODE
)
_ENTRY_CODE = (
    _HIDE_CODE
    + """
import time
started, cpu = time.perf_counter(), time.process_time()
import importlib, json, sys
module, attribute, event_file = sys.argv[1:4]
handler = getattr(importlib.import_module(module), attribute)
imported = round((time.perf_counter() - started) * 1000, 1)
class Context:
    function_name = "cold-start"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold-start"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = log_stream_name = "cold-start"
    def get_remaining_time_in_millis(self):
        return 30_000
with open(event_file) as f:
    event = json.load(f)
try:
    response = handler(event, Context())
except Exception as exc:  # the authorizer answers an unknown token with Exception("Unauthorized") = 401
    response = {"raised": str(exc)}
elapsed = round((time.perf_counter() - started) * 1000, 1)
cpu = round((time.process_time() - cpu) * 1000, 1)
answer = response.get("statusCode") or response.get("raised")
if answer is None and "batchItemFailures" in response:
    answer = f"{len(response['batchItemFailures'])} failed records"
elif answer is None:
    answer = json.dumps(response, separators=(",", ":"))[:40]
print(elapsed, imported, cpu, answer)
"""
    + _EXIT_CODE
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_aws(env: dict[str, str]) -> Any:
    """A moto server with every table, for the entries' first calls; returns it (call .stop())."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    os.environ.update(env)
    from gridshare.contexts import ensure_tables
    from gridshare.kernel.aws import client

    ensure_tables()
    # What the notifier fans out to
    env["GS_DELIVERIES_QUEUE_URL"] = client("sqs").create_queue(QueueName="notification-deliveries")["QueueUrl"]
    # The settlement rows: the manifest bucket, a state machine to start, the run the task rows work on
    s3 = client("s3")
    for name, bucket in (
        ("GS_SETTLEMENT_BUCKET", "cold-start-settlement"),
        ("GS_TELEMETRY_ARCHIVE_BUCKET", "cold-start-archive"),
    ):
        s3.create_bucket(Bucket=bucket)
        env[name] = bucket
    env["GS_SETTLEMENT_STATE_MACHINE_ARN"] = client("stepfunctions").create_state_machine(
        name="gridshare-settlement",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/gridshare-settlement",
    )["stateMachineArn"]
    from gridshare.settlement.models import SettlementRunModel

    SettlementRunModel(
        id=RUN_ID, status="pending", from_ms=RUN_FROM, to_ms=RUN_FROM + RUN_SPAN, trigger="admin", created_at=RUN_FROM
    ).save()
    # The user the "valid token" rows act as (GET /v1/me answers their profile)
    from gridshare.identity.models import UserModel

    UserModel(
        id=USER_ID, email="ada@example.com", name="Ada", role="prosumer", status="active", created_at=1718000000000
    ).save()
    # The pool whose tokens the "valid token" rows carry: its keys are moto's (FIELD-NOTES: Cognito)
    env.update(
        {
            "GS_USER_POOL_ID": POOL_ID,
            "GS_USER_POOL_CLIENT_ID": CLIENT_ID,
            "GS_JWKS_URL": f"file://{_moto_keys() / 'jwks-public.json.gz'}",
        }
    )
    return server


POOL_ID, CLIENT_ID = "us-east-1_coldstart", "cold-start-client"
USER_ID = "01J2Z8K6M4P3R7T9V1W5X0Y2QA"  # the sample events' user
# A settlement run of one 15-minute interval, long delivered
RUN_ID, RUN_FROM, RUN_SPAN = "stl-cold-start", 1718000100000 // 900_000 * 900_000, 900_000


def _moto_keys() -> Path:
    import moto.cognitoidp

    return Path(moto.cognitoidp.__file__).parent / "resources"


def access_token() -> str:
    """A Cognito-shaped access token (RS256, moto's key) of a prosumer, valid for an hour from now."""
    import gzip

    import jwt
    from jwt.algorithms import RSAAlgorithm

    with gzip.open(_moto_keys() / "jwks-private.json.gz", "rt") as handle:
        document = json.load(handle)
    key = RSAAlgorithm.from_jwk(json.dumps(document["keys"][0] if "keys" in document else document))
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}",
        "sub": USER_ID,
        "username": USER_ID,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "cognito:groups": ["prosumer"],
        "iat": now,
        "exp": now + 3600,
        "jti": "cold-start",
    }
    return str(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"}))


def child_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GS_", "POWERTOOLS_", "PYTHON", "_X_AMZN"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            # Set by the Lambda runtime in every function (gridshare.kernel.init_phase acts on it)
            "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
            "POWERTOOLS_SERVICE_NAME": "cold-start",
            "POWERTOOLS_METRICS_NAMESPACE": "Gridshare",
            "GS_CURSOR_SECRET": "cold-start-bench-cursor-secret",  # noqa: S105 - not a secret
            # What the Lambda runtime puts on sys.path: the function code and the layer, nothing local.
            "PYTHONPATH": os.pathsep.join([str(root), str(root / "layers" / "gridshare")]),
            "PYTHONDONTWRITEBYTECODE": "",
        }
    )
    env.pop("PYTHONDONTWRITEBYTECODE")
    return env


@dataclass
class Samples:
    """One row's measurements, ms: to the first answer (wall), of it importing, CPU time of the process."""

    wall: list[float] = field(default_factory=list)
    imported: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    answer: str = ""

    def add(self, measured: tuple[float, float, float, str]) -> None:
        wall, imported, cpu, self.answer = measured
        self.wall.append(wall)
        self.imported.append(imported)
        self.cpu.append(cpu)


def measure_once(argv: list[str], env: dict[str, str], hidden: str) -> tuple[float, float, float, str]:
    """(ms to the first answer, ms of that importing the entry, CPU ms, the answer) of one fresh interpreter."""
    code, *rest = argv
    command = [sys.executable, "-c", code, hidden, *rest]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    lines = [line for line in done.stdout.splitlines() if line and line[0].isdigit()]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{argv[-3:]} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    total, imported, cpu, answer = lines[-1].split(" ", 3)
    return float(total), float(imported), float(cpu), answer


def botocore_as_deployed() -> Path:
    """A directory holding a copy of this botocore whose data is prepared as the layer's is
    (infra_cdk.botocore_data), with its bytecode; made once per botocore version and version of that module.
    The entries find it first on their path; the floor imports botocore as pip installed it."""
    import botocore

    from infra_cdk import botocore_data

    preparation = hashlib.sha256(Path(botocore_data.__file__).read_bytes()).hexdigest()[:8]
    site = Path(tempfile.gettempdir()) / f"gridshare-bench-botocore-{botocore.__version__}-{preparation}"
    done = site / ".complete"
    if not done.exists():
        if site.exists():
            shutil.rmtree(site)
        shutil.copytree(Path(botocore.__file__).parent, site / "botocore", ignore=shutil.ignore_patterns("__pycache__"))
        botocore_data.prepare_layer_data(site / "botocore" / "data")
        compileall.compile_dir(str(site), quiet=1)
        done.touch()
    return site


def count_instructions(argv: list[str], env: dict[str, str], hidden: str) -> int:
    """Instructions one fresh interpreter executes to its first answer (valgrind's callgrind)."""
    code, *rest = argv
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", code]
    done = subprocess.run(
        [*command, hidden, *rest],
        env={**env, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{argv[-3:]} failed under valgrind ({done.returncode}):\n{done.stderr[-4000:]}")
    return int(found.group(1))


def report_instructions(
    roots: dict[str, Path], counts: dict[tuple[str, str], int], names: list[str], goal: float
) -> None:
    """The table of `--instructions`: millions of instructions per row and their ratio to the floor's."""
    print("cold start: instructions to the first response in a fresh interpreter (valgrind, PYTHONHASHSEED=0)")
    for label, root in roots.items():
        print(f"  {label}: {root}")
    labels = list(roots)
    print(f"{'entry':<46}" + "".join(f" {label + ' M':>10} {'x floor':>7}" for label in labels))
    worst = 0.0
    for name in [FLOOR, *names]:
        line = f"{name:<46}"
        for label in labels:
            line += f" {counts[label, name] / 1e6:>10.0f} {counts[label, name] / counts[label, FLOOR]:>7.2f}"
        ratio = counts["after", name] / counts["after", FLOOR]
        worst = max(worst, ratio)
        print(line + ("" if ratio <= goal else f"  > {goal}"))
    print(f"worst ratio {worst:.2f} (goal <= {goal})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per row (default 7); median")
    parser.add_argument("--only", action="append", default=[], help="rows whose name contains this (repeatable)")
    parser.add_argument("--goal", type=float, default=1.25, help="ratio to the floor a row must stay within")
    parser.add_argument(
        "--keep-installed",
        action="store_true",
        help=f"do not hide {', '.join(LAMBDA_ABSENT)} (installed here, absent on Lambda)",
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the code to measure: a checkout with functions/ and layers/"
    )
    parser.add_argument(
        "--before",
        type=Path,
        default=None,
        help="another checkout (e.g. `git archive <commit>` unpacked) measured interleaved with --root",
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under valgrind, once per row, not time"
    )
    parser.add_argument(
        "--stock-botocore",
        action="store_true",
        help="entries import botocore with its data as pip installs it, not as the layer ships it",
    )
    args = parser.parse_args(argv)
    hidden = "" if args.keep_installed else ",".join(LAMBDA_ABSENT)

    roots = {"after": args.root.resolve(), **({"before": args.before.resolve()} if args.before else {})}
    envs = {label: child_env(root) for label, root in roots.items()}
    server = start_aws(envs["after"])
    for env in envs.values():
        env.update({k: v for k, v in envs["after"].items() if k.startswith(("AWS_ENDPOINT_URL", "GS_"))})
    floor_env = dict(envs["after"])  # the floor: stock botocore, as any Python function has it
    if not args.stock_botocore:
        for env in envs.values():
            env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(botocore_as_deployed())])
    rows = [e for e in entries() if not args.only or any(o in e[0] for o in args.only)]
    floor = Samples()
    samples = {(label, name): Samples() for name, *_ in rows for label in roots}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, _, _, event in rows:
            path = Path(tmp) / f"{len(files)}.json"
            path.write_text(json.dumps(event), encoding="utf-8")
            files[name] = str(path)
        try:
            if args.instructions:
                counts = {}
                for label, env in envs.items():
                    counts[label, FLOOR] = count_instructions([_FLOOR_CODE], floor_env, hidden)
                    for name, module, attribute, _ in rows:
                        counts[label, name] = count_instructions(
                            [_ENTRY_CODE, module, attribute, files[name]], env, hidden
                        )
                report_instructions(roots, counts, [name for name, *_ in rows], args.goal)
                return 0
            for _ in range(args.runs):
                floor.add(measure_once([_FLOOR_CODE], floor_env, hidden))
                for name, module, attribute, _ in rows:
                    for label, env in envs.items():  # interleaved: load bursts hit both alike
                        samples[label, name].add(
                            measure_once([_ENTRY_CODE, module, attribute, files[name]], env, hidden)
                        )
        finally:
            server.stop()
    report(args, roots, hidden, floor, rows, samples)
    return 0


def report(
    args: argparse.Namespace,
    roots: dict[str, Path],
    hidden: str,
    floor: Samples,
    rows: list[tuple[str, str, str, dict[str, Any]]],
    samples: dict[tuple[str, str], Samples],
) -> None:
    """The table: medians; `x floor` = wall to the first answer / the floor's (CPU: the same in CPU time)."""
    median = statistics.median
    wall_floor, cpu_floor = median(floor.wall), median(floor.cpu)
    python = sys.version.split()[0]
    print(f"cold start: import + first response in a fresh interpreter, median of {args.runs} (python {python})")
    for label, root in roots.items():
        print(f"  {label}: {root}")
    print(f"  hidden as on Lambda: {hidden or 'nothing'}; load average at the end: {os.getloadavg()[0]:.1f}")
    before = "before" in roots
    head = f"{'entry':<42}"
    if before:
        head += f" {'before':>7} {'x floor':>7} {'cpu ms':>7} {'x cpu':>6} |"
    head += f" {'ms':>7} {'import':>7} {'cpu ms':>7} {'x floor':>7} {'x cpu':>6}  answer"
    print(head)
    print(
        f"{FLOOR:<42}"
        + (f" {wall_floor:>7.0f} {1:>7.2f} {cpu_floor:>7.0f} {1:>6.2f} |" if before else "")
        + f" {wall_floor:>7.0f} {median(floor.imported):>7.0f} {cpu_floor:>7.0f} {1:>7.2f} {1:>6.2f}  client"
    )
    worst_wall = worst_cpu = 0.0
    for name, *_ in rows:
        row = samples["after", name]
        ratio, cpu_ratio = median(row.wall) / wall_floor, median(row.cpu) / cpu_floor
        worst_wall, worst_cpu = max(worst_wall, ratio), max(worst_cpu, cpu_ratio)
        line = f"{name:<42}"
        if before:
            old = samples["before", name]
            line += f" {median(old.wall):>7.0f} {median(old.wall) / wall_floor:>7.2f}"
            line += f" {median(old.cpu):>7.0f} {median(old.cpu) / cpu_floor:>6.2f} |"
        line += (
            f" {median(row.wall):>7.0f} {median(row.imported):>7.0f} {median(row.cpu):>7.0f}"
            f" {ratio:>7.2f} {cpu_ratio:>6.2f}  {row.answer[:40]}"
        )
        over = [kind for kind, r in (("wall", ratio), ("cpu", cpu_ratio)) if r > args.goal]
        print(line + (f"  > {args.goal} ({', '.join(over)})" if over else ""))
    print(f"worst ratio: CPU {worst_cpu:.2f}, wall {worst_wall:.2f} (goal <= {args.goal})")
    print(
        "  (the wall time also holds the entries' waits for the AWS emulator's answers, a Python server in this"
        " process; the floor makes no call)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
