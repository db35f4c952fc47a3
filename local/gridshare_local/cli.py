"""The `gridshare` command: run the local stack, a demo, a device fleet, test payments, and local admin tasks."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys

from gridshare_local.cli_errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_STACK,
    EXIT_USAGE,
    CliError,
    StackNotRunning,
    state_dir,
)
from gridshare_local.commands import (
    TEST_CARDS,
    _cmd_admin_create,
    _cmd_clock,
    _cmd_demo,
    _cmd_ledger_verify,
    _cmd_openapi,
    _cmd_outbox,
    _cmd_pay_confirm,
    _cmd_publish,
    _cmd_query_specs,
    _cmd_simulate,
    _cmd_up,
    _port,
    parse_duration,
)

EPILOG = (
    f"exit status: 0 done; {EXIT_FAILED} failed or refused; {EXIT_USAGE} wrong usage; {EXIT_NO_STACK} no local stack "
    f"answers; {EXIT_INTERRUPTED} interrupted. An error is one line on stderr; `gridshare --debug <command>` also "
    "shows its traceback."
)


def _json_object(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("a JSON object, e.g. '{\"power_w\": 1200}'")
    return value


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
        "--ws-port", type=_port, metavar="PORT", help="the WebSocket API's port (default: $GS_WS_PORT, else 8001)"
    )
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
        description="Stream readings from simulated devices owned by an existing, verified user. Without --fleet "
        "the run's devices are one-off: their keys (owner-only, under <state dir>/fleets/) are deleted on exit. "
        "With --fleet NAME the fleet (device ids, certificates, keys, where its readings got to) is kept in "
        "<state dir>/fleets/NAME/ and reused by the next run with that name; devices the stack no longer knows "
        "(it restarted) are replaced. A live line shows readings sent/stored per device.",
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
        metavar="NAME",
        help="keep this run's devices as the fleet NAME and reuse them next time (default: one-off devices whose "
        "keys are deleted on exit)",
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
        help="with --fleet: delete the fleet's keys and record on exit (the next run provisions new devices)",
    )
    sim.set_defaults(func=_cmd_simulate, cmd="simulate")

    pub = sub.add_parser(
        "publish",
        parents=both,
        help="publish one reading (or any message) from a provisioned device, by hand",
        description="Connect as a device (AWS IoT Device SDK, MQTT 5 over mutual TLS, client id = thingName) and "
        "publish one message. DEVICE is a file holding the answer of POST /v1/devices. A reading is "
        '{"ts": <the stack\'s now, epoch ms>, "seq": <the device\'s next>, "metrics": METRICS}; the credentials and '
        "the last seq are kept under <state dir>/devices/<thingName>/ (the key owner-only).",
        epilog=EPILOG,
    )
    pub.add_argument("device", metavar="DEVICE", help="file with the answer of POST /v1/devices (device.json)")
    pub.add_argument(
        "--metrics",
        type=_json_object,
        default={},
        metavar="JSON",
        help='the reading\'s metrics, e.g. \'{"power_w": 1200, "energy_import_wh": 10500}\'',
    )
    pub.add_argument("--seq", type=_count, help="the reading's seq (default: one more than the last one published)")
    pub.add_argument(
        "--message",
        metavar="TEXT",
        help="publish TEXT as it is instead of a reading (e.g. a malformed one, to see it dead-lettered)",
    )
    pub.add_argument(
        "--topic",
        choices=("telemetry", "heartbeat", "commands/ack"),
        default="telemetry",
        help="the device topic gs/v1/<thingName>/<topic> (default: telemetry)",
    )
    pub.add_argument("--key", metavar="PEM", help="the device's private key file, when it was provisioned with a CSR")
    pub.add_argument(
        "--api", metavar="URL", help="the API, for the stack's clock (default: $GS_API_URL, else the running stack's)"
    )
    pub.set_defaults(func=_cmd_publish, cmd="publish")

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

    openapi = sub.add_parser(
        "openapi", parents=[common], help="print the OpenAPI document (no stack needed)", epilog=EPILOG
    )
    openapi.add_argument(
        "--api-md",
        metavar="PAGE",
        help="instead, rewrite the generated routes table of this Markdown page (docs/api.md) in place",
    )
    openapi.set_defaults(func=_cmd_openapi, cmd="openapi")
    sub.add_parser(
        "query-specs",
        parents=[common],
        help="print gridshare.http.query_specs, the query models' specs for parsing without pydantic",
        epilog=EPILOG,
    ).set_defaults(func=_cmd_query_specs, cmd="query-specs")
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
