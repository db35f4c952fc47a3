"""The `gridshare` command: run the local stack, a demo, a device fleet, test payments, and local admin tasks."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator

from gridshare_local.cli_errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_STACK,
    EXIT_USAGE,
    CliError,
    StackNotRunning,
    state_dir,
)

EPILOG = (
    f"exit status: 0 done; {EXIT_FAILED} failed or refused; {EXIT_USAGE} wrong usage; {EXIT_NO_STACK} no local stack "
    f"answers; {EXIT_INTERRUPTED} interrupted. An error is one line on stderr; `gridshare --debug <command>` also "
    "shows its traceback."
)


UP_PORTS = (("api_port", "GS_API_PORT", 8000), ("mqtt_port", "GS_MQTT_PORT", 8883), ("moto_port", "GS_MOTO_PORT", 4566))


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
        stripe_port=args.stripe_port,
    )
    endpoints = stack.start()
    print("Gridshare local stack is up:")
    print(f"  API       {endpoints.api}   (GET /health, docs: /v1/openapi.json)")
    print(f"  AWS/moto  {endpoints.moto}   (AWS_ENDPOINT_URL)")
    print(f"  MQTT      {endpoints.as_dict()['mqtt'] or 'not started (install mosquitto)'}   (mutual TLS)")
    print(f"  Stripe    {endpoints.stripe}   (stand-in; signed webhooks to {endpoints.api}/v1/payments/stripe/webhook)")
    print(f"  outbox    {endpoints.api}/_local/outbox?to=<address>")
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
    print(json.dumps(build_openapi(), indent=2, sort_keys=False))
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
            fleet_name=args.fleet,
            state=state_dir(),
            forget=args.forget,
        )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number above 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number (0 or more)")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds above 0 (at most 86400)")
    return value


def _fleet(text: str) -> str:
    from gridshare_local.fleet import fleet_name

    try:
        return fleet_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from gridshare.identity import passwords

    # Options every command takes after its name too (defaults suppressed, so a subcommand does not reset them).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="on an error, show the Python traceback"
    )
    stack_opts = argparse.ArgumentParser(add_help=False)
    stack_opts.add_argument(
        "--state-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the local stack's state directory: its CA, broker files, env.json, fleets "
        "(default: $GS_STATE_DIR, else .local)",
    )
    both = [common, stack_opts]

    parser = argparse.ArgumentParser(
        prog="gridshare", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="on an error, show the Python traceback")
    parser.add_argument(
        "--state-dir", metavar="DIR", help="the local stack's state directory (default: $GS_STATE_DIR, else .local)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        parents=both,
        help="run the local stack in the foreground (Ctrl-C stops it)",
        description="Run the whole system on loopback against moto: API, MQTT broker, rule bridge, ingest, "
        "schedules, Stripe stand-in. A flag wins over its environment variable.",
        epilog=EPILOG,
    )
    up.add_argument("--api-port", type=_port, metavar="PORT", help="the API's port (default: $GS_API_PORT, else 8000)")
    up.add_argument(
        "--mqtt-port", type=_port, metavar="PORT", help="the MQTT broker's port (default: $GS_MQTT_PORT, else 8883)"
    )
    up.add_argument(
        "--moto-port",
        type=_port,
        metavar="PORT",
        help="moto's port, the AWS endpoint (default: $GS_MOTO_PORT, else 4566)",
    )
    up.add_argument(
        "--stripe-port",
        type=_port,
        metavar="PORT",
        help="the Stripe stand-in's port (default: $GS_STRIPE_PORT, else 12111, or any free port when that is taken)",
    )
    up.set_defaults(func=_cmd_up, cmd="up")

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="start a stack of its own, provision devices, stream readings, summarize, stop",
        description="The whole system once, on free ports, in a temporary state directory that is deleted on exit.",
        epilog=EPILOG,
    )
    demo.add_argument(
        "--devices",
        type=_positive,
        default=3,
        help="devices to provision: meter, battery, gas_sensor, inverter in turn (default: 3)",
    )
    demo.add_argument("--readings", type=_positive, default=10, help="readings per device (default: 10)")
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo's state directory (local CA, device keys); its path is printed",
    )
    demo.set_defaults(func=_cmd_demo, cmd="demo")

    sim = sub.add_parser(
        "simulate",
        parents=both,
        help="a device fleet publishing readings to the running local stack",
        description="Stream readings from a named fleet of simulated devices owned by an existing, verified user. "
        "The fleet (device ids, certificates, owner-only keys) is kept in <state dir>/fleets/<name>/ and reused by "
        "the next run; devices the stack no longer knows (it restarted) are replaced. A live line shows readings "
        "sent/stored per device.",
        epilog=EPILOG,
    )
    sim.add_argument(
        "--api", metavar="URL", help="the API (default: $GS_API_URL, else the running stack's, from its env.json)"
    )
    sim.add_argument("--email", required=True, help="an existing, verified user without 2FA, who owns the devices")
    sim.add_argument("--password", help="the user's password (default: $GS_PASSWORD, else asked for on the terminal)")
    sim.add_argument(
        "--fleet",
        type=_fleet,
        default="default",
        metavar="NAME",
        help="the fleet to use or make (default: default); another name is another set of devices",
    )
    sim.add_argument(
        "--devices",
        type=_positive,
        default=5,
        help="devices that stream: the fleet's own first, new ones provisioned up to this number (default: 5)",
    )
    sim.add_argument(
        "--interval",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="seconds between readings per device (default: 2)",
    )
    sim.add_argument(
        "--count",
        type=_count,
        default=0,
        help="readings per device, then wait until they are stored and exit (default: 0, until Ctrl-C)",
    )
    sim.add_argument(
        "--forget",
        action="store_true",
        help="delete the fleet's keys and record on exit (the next run provisions new devices)",
    )
    sim.set_defaults(func=_cmd_simulate, cmd="simulate")

    outbox = sub.add_parser(
        "outbox",
        parents=both,
        help="messages the local stack would have emailed (verification and reset codes)",
        description="What the running stack would have emailed (moto SES).",
        epilog=EPILOG,
    )
    outbox.add_argument("--to", metavar="ADDRESS", help="only the messages to this address")
    outbox.add_argument("-v", "--verbose", action="store_true", help="print each message's body too")
    outbox.set_defaults(func=_cmd_outbox, cmd="outbox")

    clock = sub.add_parser(
        "clock",
        parents=both,
        help="the running stack's now (ISO 8601 UTC); `clock advance 20m` moves it forward",
        epilog=EPILOG,
    )
    clock.set_defaults(func=_cmd_clock, clock_command=None, cmd="clock")
    clock_sub = clock.add_subparsers(dest="clock_command", metavar="advance")
    advance = clock_sub.add_parser(
        "advance",
        parents=both,
        help="move the stack's now forward for every process; due schedules fire, in order",
        epilog=EPILOG,
    )
    advance.add_argument("duration", type=parse_duration, help="seconds, or with s/m/h/d: 90, 90s, 20m, 2h, 1d, 1h30m")
    advance.set_defaults(func=_cmd_clock, cmd="clock advance")

    admin = sub.add_parser("admin", parents=[common], help="administration: `admin create`")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="create")
    create = admin_sub.add_parser(
        "create",
        parents=both,
        help="create an admin user in the running stack (never possible through the API)",
        epilog=EPILOG,
    )
    create.add_argument("--email", required=True, help="the admin's email address, their login")
    create.add_argument("--name", default="Administrator", help="display name (default: Administrator)")
    create.add_argument(
        "--password",
        help=f"{passwords.describe()} (default: $GS_ADMIN_PASSWORD, else asked for twice on the terminal)",
    )
    create.set_defaults(func=_cmd_admin_create, cmd="admin create")

    pay = sub.add_parser("pay", parents=[common], help="test payments against the running stack's Stripe stand-in")
    pay_sub = pay.add_subparsers(dest="pay_command", required=True, metavar="confirm")
    confirm = pay_sub.add_parser(
        "confirm",
        parents=both,
        help="pay a top-up's PaymentIntent as the card holder (exit 0: succeeded)",
        epilog=EPILOG,
    )
    confirm.add_argument("payment_intent_id", metavar="paymentIntentId", help="from POST /v1/wallet/topups")
    confirm.add_argument("--card", choices=sorted(TEST_CARDS), default="visa", help="test card (default: visa)")
    confirm.set_defaults(func=_cmd_pay_confirm, cmd="pay confirm")

    ledger = sub.add_parser("ledger", parents=[common], help="the wallets ledger: `ledger verify`")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="verify")
    ledger_sub.add_parser(
        "verify",
        parents=both,
        help="verify every hash chain, balance and transaction of the running stack (exit 0: intact)",
        epilog=EPILOG,
    ).set_defaults(func=_cmd_ledger_verify, cmd="ledger verify")

    sub.add_parser(
        "openapi", parents=[common], help="print the OpenAPI document (no stack needed)", epilog=EPILOG
    ).set_defaults(func=_cmd_openapi, cmd="openapi")
    return parser


def describe_error(exc: BaseException) -> tuple[str, int]:
    """One line and an exit code for an error that ended a command."""
    import botocore.exceptions
    import requests

    from gridshare.kernel.errors import GridshareError

    if isinstance(exc, CliError):
        return exc.message, exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, requests.ConnectionError):
        origin = re.match(r"https?://[^/]+", getattr(getattr(exc, "request", None), "url", None) or "")
        stopped = StackNotRunning(state_dir(), origin.group(0) if origin else None)
        return stopped.message, stopped.exit_code
    if isinstance(exc, requests.Timeout):
        url = getattr(getattr(exc, "request", None), "url", None)
        return f"the stack did not answer in time ({url!s})", EXIT_FAILED
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        stopped = StackNotRunning(state_dir(), exc.kwargs.get("endpoint_url"))
        return stopped.message, stopped.exit_code
    if isinstance(exc, GridshareError):
        fields = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        return exc.detail + (f" ({fields})" if fields else ""), EXIT_FAILED
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return (
        f"unexpected {type(exc).__name__}"
        + (f": {first_line}" if first_line else "")
        + " (rerun with `gridshare --debug ...` for the traceback)",
        EXIT_FAILED,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("GS_LOG_LEVEL", "WARNING"), format="%(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    if getattr(args, "state_dir", None):
        os.environ["GS_STATE_DIR"] = args.state_dir  # a flag wins over the environment, here and for every piece
    try:
        return int(args.func(args))
    except (Exception, KeyboardInterrupt) as exc:
        if getattr(args, "debug", False):
            raise
        message, code = describe_error(exc)
        sys.stdout.flush()
        print(f"gridshare {args.cmd}: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
