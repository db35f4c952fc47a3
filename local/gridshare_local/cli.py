"""The `gridshare` command: run the local stack, a demo, a device fleet, test payments, and local admin tasks."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path


def _cmd_up(args: argparse.Namespace) -> int:
    from gridshare_local.stack import LocalStack

    stack = LocalStack()
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


def _api_base() -> str:
    if "GS_API_URL" in os.environ:
        return os.environ["GS_API_URL"]
    env_file = Path(os.environ.get("GS_STATE_DIR", ".local")) / "env.json"
    if env_file.exists():
        return str(json.loads(env_file.read_text()).get("GS_API_URL"))
    return f"http://127.0.0.1:{os.environ.get('GS_API_PORT', '8000')}"


def _cmd_outbox(args: argparse.Namespace) -> int:
    import requests

    params = {"to": args.to} if args.to else {}
    response = requests.get(f"{_api_base()}/_local/outbox", params=params, timeout=10)
    response.raise_for_status()
    for message in response.json()["data"]:
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

    api = _api_base()
    try:
        if args.clock_command == "advance":
            response = requests.post(f"{api}/_local/clock/advance", json={"seconds": args.duration}, timeout=120)
        else:
            response = requests.get(f"{api}/_local/clock", timeout=10)
    except requests.ConnectionError:
        print(f"No local stack is running at {api}: start one with `gridshare up`.", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"The local stack at {api} did not answer: {exc}", file=sys.stderr)
        return 1
    try:
        document = response.json()
    except ValueError:
        document = {}
    if response.status_code == 404:
        print(
            f"{api} has no local clock (is it a local stack started by this version of `gridshare up`?)",
            file=sys.stderr,
        )
        return 1
    if not response.ok or "data" not in document:
        detail = document.get("detail") or response.reason
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in document.get("errors") or [])
        verb = "moved" if args.clock_command == "advance" else "read"
        print(f"The stack's clock was not {verb}: {detail}" + (f" ({fields})" if fields else ""), file=sys.stderr)
        return 1
    data = document["data"]
    print(data["now"])
    for key in data.get("fired") or []:
        print(f"fired {key}")
    return 0


def _cmd_admin_create(args: argparse.Namespace) -> int:
    """Create an admin in the running local stack's moto (or, with real AWS credentials and GS_* set, on AWS)."""
    import getpass

    from gridshare_local.stack import attach_to_running_stack

    attach_to_running_stack()
    from gridshare.identity.service import identity_service

    password = args.password or os.environ.get("GS_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    user = identity_service().create_admin(args.email, password, args.name)
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
        print("The running local stack has no Stripe stand-in (restart it with this version of `gridshare up`).")
        return 2
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


def _cmd_demo(args: argparse.Namespace) -> int:
    from gridshare_local.demo import run_demo

    return run_demo(devices=args.devices, readings=args.readings)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from gridshare_local.simulator import run_fleet

    return run_fleet(
        api=args.api or _api_base(),
        email=args.email,
        password=args.password,
        devices=args.devices,
        interval_s=args.interval,
        count=args.count,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("GS_LOG_LEVEL", "WARNING"), format="%(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="gridshare", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the local stack in the foreground").set_defaults(func=_cmd_up)
    demo = sub.add_parser("demo", help="start the stack, provision devices, stream readings, summarize, stop")
    demo.add_argument("--devices", type=int, default=3)
    demo.add_argument("--readings", type=int, default=10)
    demo.set_defaults(func=_cmd_demo)
    sim = sub.add_parser("simulate", help="a device fleet publishing to a running local stack")
    sim.add_argument("--api")
    sim.add_argument("--email", required=True, help="an existing, verified user who will own the devices")
    sim.add_argument("--password", required=True)
    sim.add_argument("--devices", type=int, default=5)
    sim.add_argument("--interval", type=float, default=2.0, help="seconds between readings per device")
    sim.add_argument("--count", type=int, default=0, help="readings per device (0: until Ctrl-C)")
    sim.set_defaults(func=_cmd_simulate)
    outbox = sub.add_parser("outbox", help="messages the local stack would have emailed")
    outbox.add_argument("--to")
    outbox.add_argument("-v", "--verbose", action="store_true")
    outbox.set_defaults(func=_cmd_outbox)
    clock = sub.add_parser("clock", help="the running stack's now (ISO 8601 UTC); `clock advance 20m` moves it forward")
    clock.set_defaults(func=_cmd_clock, clock_command=None)
    clock_sub = clock.add_subparsers(dest="clock_command")
    advance = clock_sub.add_parser(
        "advance", help="move the stack's now forward for every process; due schedules fire, in order"
    )
    advance.add_argument("duration", type=parse_duration, help="seconds, or with s/m/h/d: 90, 90s, 20m, 2h, 1d")
    advance.set_defaults(func=_cmd_clock)
    admin = sub.add_parser("admin", help="administration").add_subparsers(dest="admin_command", required=True)
    create = admin.add_parser("create", help="create an admin user (never possible through the API)")
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="Administrator")
    create.add_argument("--password", help="or GS_ADMIN_PASSWORD, or asked for")
    create.set_defaults(func=_cmd_admin_create)
    pay = sub.add_parser("pay", help="test payments against the running stack's Stripe stand-in")
    pay_sub = pay.add_subparsers(dest="pay_command", required=True)
    confirm = pay_sub.add_parser("confirm", help="pay a top-up's PaymentIntent as the card holder (exit 0: succeeded)")
    confirm.add_argument("payment_intent_id", metavar="paymentIntentId", help="from POST /v1/wallet/topups")
    confirm.add_argument("--card", choices=sorted(TEST_CARDS), default="visa", help="test card (default: visa)")
    confirm.set_defaults(func=_cmd_pay_confirm)
    ledger = sub.add_parser("ledger", help="the wallets ledger").add_subparsers(dest="ledger_command", required=True)
    ledger.add_parser(
        "verify", help="verify every hash chain, balance and transaction of the running stack (exit 0: intact)"
    ).set_defaults(func=_cmd_ledger_verify)
    sub.add_parser("openapi", help="print the OpenAPI document").set_defaults(func=_cmd_openapi)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
