"""What each `gridshare` command does (gridshare_local.cli parses the arguments and reports errors)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from gridshare_local.cli_errors import (
    EXIT_USAGE,
    CliError,
    state_dir,
)

UP_PORTS = (
    ("api_port", "GS_API_PORT", 8000),
    ("mqtt_port", "GS_MQTT_PORT", 8883),
    ("moto_port", "GS_MOTO_PORT", 4566),
    ("ws_port", "GS_WS_PORT", 8001),
)


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on the port (SO_REUSEADDR as the servers bind: TIME_WAIT does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _cmd_up(args: argparse.Namespace) -> int:
    from gridshare_local.stack import LocalStack

    ports: dict[str, int] = {}
    for attr, env, default in UP_PORTS:  # a flag wins over its environment variable
        value = getattr(args, attr)
        ports[attr] = value if value is not None else _env_port(env, default)
        if _port_in_use(ports[attr]):
            flag = "--" + attr.replace("_", "-")
            raise CliError(
                f"port {ports[attr]} ({attr.split('_')[0]}) is in use, maybe by another stack: stop it, or choose "
                f"another with {flag} or {env}"
            )
    if args.stripe_port is not None and _port_in_use(args.stripe_port):
        raise CliError(f"port {args.stripe_port} (stripe) is in use: choose another with --stripe-port")
    stack = LocalStack(
        state_dir=state_dir(),
        api_port=ports["api_port"],
        mqtt_port=ports["mqtt_port"],
        moto_port=ports["moto_port"],
        ws_port=ports["ws_port"],
        stripe_port=args.stripe_port,
    )
    endpoints = stack.start()
    print("Gridshare local stack is up:")
    print(f"  API       {endpoints.api}   (GET /health, docs: /v1/openapi.json)")
    print(f"  AWS/moto  {endpoints.moto}   (AWS_ENDPOINT_URL)")
    print(f"  MQTT      {endpoints.as_dict()['mqtt'] or 'not started (install mosquitto)'}   (mutual TLS)")
    print(f"  Stripe    {endpoints.stripe}   (stand-in; signed webhooks to {endpoints.api}/v1/payments/stripe/webhook)")
    print(f"  WebSocket {endpoints.websocket}   (?token=<access token>; docs/notifications.md)")
    print(f"  outbox    {endpoints.api}/_local/outbox?to=<address | phone | push token>")
    print(f"  clock     {endpoints.api}/_local/clock   (gridshare clock [advance 20m])")
    print(f"  state     {endpoints.state_dir}")
    print("Ctrl-C stops everything.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def _env_port(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return _port(value)
    except argparse.ArgumentTypeError as exc:
        raise CliError(f"{name}: {exc}", EXIT_USAGE) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port (1-65535)")
    return port


def _api_base() -> str:
    """The running stack's API: GS_API_URL, else the one in the state directory's env.json, else GS_API_PORT."""
    if "GS_API_URL" in os.environ:
        return os.environ["GS_API_URL"]
    env_file = state_dir() / "env.json"
    if env_file.exists():
        try:
            return str(json.loads(env_file.read_text())["GS_API_URL"])
        except (ValueError, KeyError):
            pass
    return f"http://127.0.0.1:{_env_port('GS_API_PORT', 8000)}"


def _password(given: str | None, env: str, prompt: str = "Password: ", confirm: bool = False) -> str:
    """--password, else the environment variable `env`, else asked for on the terminal (never echoed)."""
    import getpass

    password = given or os.environ.get(env)
    if password:
        return password
    if not sys.stdin.isatty():
        raise CliError(f"no password: give --password or set {env} (there is no terminal to ask on)", EXIT_USAGE)
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != password:
        raise CliError("the two passwords differ", EXIT_USAGE)
    if not password:
        raise CliError("no password given", EXIT_USAGE)
    return password


def _cmd_outbox(args: argparse.Namespace) -> int:
    import requests

    from gridshare_local.api_client import expect

    params = {"to": args.to} if args.to else {}
    response = requests.get(f"{_api_base()}/_local/outbox", params=params, timeout=10)
    messages = expect(response, "the outbox could not be read")["data"]
    if not messages:
        print(f"no mail for {args.to}" if args.to else "no mail")
    for message in messages:
        print(
            f"to {', '.join(message['to'])}: {message['subject']}"
            + (f"  [code {message['code']}]" if message["code"] else "")
        )
        if args.verbose:
            print(message["body"])
    return 0


_DURATION = re.compile(r"(\d+)([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """`90`, `90s`, `20m`, `2h`, `1d` (or a sum such as `1h30m`) -> whole seconds, more than 0."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if (
        not compact
        or "".join(n + u for n, u in parts) != compact
        or (len(parts) > 1 and any(u == "" for _, u in parts))
    ):
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration: use seconds or s/m/h/d, e.g. 90, 20m, 2h, 1d")
    seconds = sum(int(n) * _UNIT_S[u] for n, u in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the clock only moves forward: give a duration above 0")
    return seconds


def _cmd_clock(args: argparse.Namespace) -> int:
    """Print the running stack's now (ISO 8601 UTC); with `advance <duration>`, move it forward first (every
    process of the stack follows; schedules that fall due in the skipped span fire, in order)."""
    import requests

    from gridshare_local.api_client import expect

    api = _api_base()
    if args.clock_command == "advance":
        response = requests.post(f"{api}/_local/clock/advance", json={"seconds": args.duration}, timeout=120)
    else:
        response = requests.get(f"{api}/_local/clock", timeout=10)
    if response.status_code == 404:
        raise CliError(f"{api} has no local clock (is it a local stack started by this version of `gridshare up`?)")
    verb = "moved" if args.clock_command == "advance" else "read"
    data = expect(response, f"the stack's clock was not {verb}")["data"]
    print(data["now"])
    for key in data.get("fired") or []:
        print(f"fired {key}")
    return 0


def _check_password(password: str) -> None:
    from gridshare.identity import passwords

    if passwords.violations(password):
        raise CliError(passwords.policy_problem(password), EXIT_USAGE)


def _cmd_admin_create(args: argparse.Namespace) -> int:
    """Create an admin in the running local stack's moto (or, with real AWS credentials and GS_* set, on AWS)."""
    from gridshare.kernel import errors
    from gridshare_local.stack import attach_to_running_stack

    given = args.password or os.environ.get("GS_ADMIN_PASSWORD")
    if given:
        _check_password(given)  # before anything is touched
    attach_to_running_stack()
    from gridshare.identity.service import identity_service

    password = given or _password(None, "GS_ADMIN_PASSWORD", f"Password for {args.email}: ", confirm=True)
    _check_password(password)
    try:
        user = identity_service().create_admin(args.email, password, args.name)
    except errors.Conflict:
        raise CliError(f"{args.email.strip().lower()} already has an account: no admin was created") from None
    print(json.dumps({"data": user}, indent=2))
    return 0


TEST_CARDS = {"visa": "pm_card_visa", "declined": "pm_card_chargeDeclined"}  # Stripe's test payment methods


def _cmd_pay_confirm(args: argparse.Namespace) -> int:
    """Complete a top-up's payment as the card holder would: confirm its PaymentIntent with a test card,
    through the official Stripe SDK, against the running stack's Stripe stand-in. The stand-in then delivers
    the signed webhook (payment_intent.succeeded or .payment_failed) to the API. Exit 0 when it succeeded."""
    import stripe

    from gridshare_local.provision import read_stripe_secret
    from gridshare_local.stack import REGION, attach_to_running_stack

    env = attach_to_running_stack()
    if not env.get("GS_STRIPE_API_BASE") or not env.get("GS_STRIPE_SECRET_ARN"):
        raise CliError(
            "the running local stack has no Stripe stand-in (restart it with this version of `gridshare up`)"
        )
    api_key = read_stripe_secret(REGION, env["GS_STRIPE_SECRET_ARN"]).api_key
    client = stripe.StripeClient(api_key, base_addresses={"api": env["GS_STRIPE_API_BASE"]}, max_network_retries=2)
    try:
        intent = client.v1.payment_intents.confirm(
            args.payment_intent_id, params={"payment_method": TEST_CARDS[args.card]}
        )
    except stripe.CardError as exc:
        error = exc.error
        intent_status = getattr(getattr(error, "payment_intent", None), "status", None) or "requires_payment_method"
        print(f"{args.payment_intent_id}: {intent_status} ({getattr(error, 'code', None)}: {exc.user_message})")
        return 1
    except stripe.StripeError as exc:
        print(f"{args.payment_intent_id}: refused by Stripe: {exc.user_message or exc}")
        return 1
    print(f"{intent.id}: {intent.status} ({intent.amount} {str(intent.currency).upper()})")
    return 0 if intent.status == "succeeded" else 1


def _cmd_ledger_verify(args: argparse.Namespace) -> int:
    """Verify the running stack's ledger: every account's hash chain, running balances and head, every
    transaction against the chains, every asset summing to zero. Exit 0 when nothing is wrong."""
    from gridshare_local.stack import attach_to_running_stack

    attach_to_running_stack()
    from gridshare.kernel.aws import client
    from gridshare.ledger.models import LedgerEntryModel, LedgerTransactionModel
    from gridshare.ledger.store import LedgerStore

    store = LedgerStore()
    problems = store.verify()
    if problems:
        print(f"ledger verify FAILED: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1

    def count(table: str) -> int:
        total, kwargs = 0, {"TableName": table, "Select": "COUNT", "ConsistentRead": True}
        while True:
            page = client("dynamodb").scan(**kwargs)
            total += int(page["Count"])
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    accounts = len(store.balances())
    entries = count(LedgerEntryModel.Meta.table_name)
    transactions = count(LedgerTransactionModel.Meta.table_name)
    print(f"ledger OK: {transactions} transactions, {entries} entries, {accounts} accounts; every chain verified")
    return 0


def _cmd_openapi(args: argparse.Namespace) -> int:
    from gridshare.app_factory import make_app
    from gridshare.http.openapi import build_openapi

    make_app("gridshare")
    document = build_openapi()
    if args.api_md is None:
        print(json.dumps(document, indent=2, sort_keys=False))
        return 0
    from gridshare.http.api_docs import render

    page = Path(args.api_md)
    page.write_text(render(page.read_text(), document))
    print(f"{page}: routes table rewritten ({len(document['paths'])} paths)")
    return 0


def _cmd_query_specs(args: argparse.Namespace) -> int:
    from gridshare_local.query_specs import render

    sys.stdout.write(render())
    return 0


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM ends the command as Ctrl-C does: its clean-up runs (connections closed, files removed or saved)."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_publish(args: argparse.Namespace) -> int:
    from gridshare_local.publish import publish

    return publish(
        Path(args.device),
        state=state_dir(),
        api=args.api or _api_base(),
        metrics=args.metrics,
        raw=args.message,
        seq=args.seq,
        topic=args.topic,
        key_file=Path(args.key) if args.key else None,
        out=sys.stdout,
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from gridshare_local.demo import run_demo

    with _sigterm_as_ctrl_c():
        return run_demo(devices=args.devices, readings=args.readings, keep=args.keep)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from gridshare_local.simulator import run_fleet

    password = _password(args.password, "GS_PASSWORD", f"Password for {args.email}: ")
    with _sigterm_as_ctrl_c():
        return run_fleet(
            api=args.api or _api_base(),
            email=args.email,
            password=password,
            devices=args.devices,
            interval_s=args.interval,
            count=args.count,
            fleet_name=args.fleet or f"run-{os.getpid()}",
            state=state_dir(),
            forget=args.forget or args.fleet is None,
        )
