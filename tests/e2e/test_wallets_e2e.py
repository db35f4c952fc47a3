"""Money through the running local stack: a top-up paid with the Stripe SDK's test flow (the stand-in
delivers the signed webhook to the API), the balance, a withdrawal an admin approves, and
`gridshare ledger verify`, which passes, then fails once an entry is edited behind the ledger's back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import REPO, Stack, env_json
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

CURRENCY = "EUR"


def _gridshare(stack: Stack, *args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridshare_local.cli", *args],
        cwd=REPO,
        env=stack.env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _balance(stack: Stack, token: str, currency: str = CURRENCY) -> dict[str, int]:
    """The wallet's balance in one currency: {"available": n, "pending": n} (minor units)."""
    response = stack.call("GET", "/v1/wallet", token=token)
    assert response.status_code == 200, response.text
    balances = response.json()["data"]["balances"]
    found = [b for b in balances if b["asset"] == currency]
    if not found:
        return {"available": 0, "pending": 0}
    (balance,) = found
    return {"available": int(balance["available"]), "pending": int(balance["pending"])}


def _money_call(stack: Stack, path: str, body: dict[str, Any], token: str, key: str) -> Any:
    response = stack.call("POST", path, body, token=token, headers={"Idempotency-Key": key})
    assert response.status_code == 201, response.text  # a replay answers with the first response
    return response


def test_top_up_withdraw_approve_and_verify_the_ledger(stack: Stack) -> None:
    started = time.monotonic()
    login = stack.register("wallet-e2e@example.com")
    token, user_id = login["accessToken"], login["user"]["id"]
    assert _balance(stack, token) == {"available": 0, "pending": 0}

    # A top-up creates a PaymentIntent at Stripe (the stand-in) and hands the client its secret.
    key = str(uuid.uuid4())
    topup = _money_call(stack, "/v1/wallet/topups", {"amount": 5000, "currency": CURRENCY}, token, key).json()["data"]
    assert topup["id"] and topup["paymentIntentId"].startswith("pi_")
    assert topup["clientSecret"].startswith(topup["paymentIntentId"] + "_secret_")
    # The same request again (a client retry) is the same top-up, not a second PaymentIntent.
    again = _money_call(stack, "/v1/wallet/topups", {"amount": 5000, "currency": CURRENCY}, token, key).json()["data"]
    assert (again["id"], again["paymentIntentId"]) == (topup["id"], topup["paymentIntentId"])
    assert _balance(stack, token) == {"available": 0, "pending": 0}  # nothing is credited before payment

    # The card holder pays with Stripe's test card through the Stripe SDK; the stand-in signs the
    # payment_intent.succeeded event and delivers it to the API, which credits the wallet once.
    paid = _gridshare(stack, "pay", "confirm", topup["paymentIntentId"])
    assert paid.returncode == 0, paid.stdout + paid.stderr
    assert f"{topup['paymentIntentId']}: succeeded" in paid.stdout
    wait_for(lambda: _balance(stack, token)["available"] == 5000, "the top-up was not credited")

    # A declined card credits nothing (and the CLI says so with exit 1).
    declined = _money_call(
        stack, "/v1/wallet/topups", {"amount": 700, "currency": CURRENCY}, token, str(uuid.uuid4())
    ).json()["data"]
    refused = _gridshare(stack, "pay", "confirm", declined["paymentIntentId"], "--card", "declined")
    assert refused.returncode == 1 and "card_declined" in refused.stdout, refused.stdout + refused.stderr

    # The user withdraws part of it: the amount moves from available to pending.
    withdrawal = _money_call(stack, "/v1/wallet/withdrawals", {"amount": 2000}, token, str(uuid.uuid4())).json()["data"]
    assert withdrawal["id"] and withdrawal["amount"] == 2000 and withdrawal["status"] == "requested"
    assert _balance(stack, token) == {"available": 3000, "pending": 2000}
    too_much = stack.call(
        "POST", "/v1/wallet/withdrawals", {"amount": 3001}, token=token, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert too_much.status_code == 409, too_much.text  # refused above the available balance

    # An admin approves it: paid out through Stripe, the pending hold is settled.
    admin = stack.admin_token()
    approved = stack.call("POST", f"/v1/admin/withdrawals/{withdrawal['id']}/approve", token=admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["data"]["status"] == "approved"
    assert _balance(stack, token) == {"available": 3000, "pending": 0}
    # The declined payment never reached the balance (its failure webhook was recorded, not credited).
    time.sleep(0.5)
    assert _balance(stack, token)["available"] == 3000

    # The ledger is intact: every chain, balance and transaction checks out.
    verified = _gridshare(stack, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("ledger OK:"), verified.stdout

    # Someone edits one entry directly in DynamoDB (moto), as an intruder with table access would.
    env = env_json(stack)
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    table = env.get("GS_TABLE_LEDGER_ENTRIES", "gridshare-ledger-entries")
    account = f"user:{user_id}:wallet:{CURRENCY}"
    key_of_credit = {"pk": {"S": f"ACCT#{account}#{CURRENCY}"}, "seq": {"N": "1"}}
    entry = ddb.get_item(TableName=table, Key=key_of_credit, ConsistentRead=True)["Item"]
    assert int(entry["amount"]["N"]) == 5000  # the wallet's first entry is the top-up's credit
    ddb.update_item(
        TableName=table,
        Key=key_of_credit,
        UpdateExpression="SET amount = :forged",
        ExpressionAttributeValues={":forged": {"N": "500000"}},
    )
    try:
        tampered = _gridshare(stack, "ledger", "verify")
        assert tampered.returncode == 1, tampered.stdout + tampered.stderr
        assert tampered.stdout.startswith("ledger verify FAILED"), tampered.stdout
        # each problem is named: the edited entry's account and sequence number
        assert f"{account} {CURRENCY} #1" in tampered.stdout, tampered.stdout
    finally:
        # Put it back: the stack is shared by the session, and the chain must verify again.
        ddb.update_item(
            TableName=table,
            Key=key_of_credit,
            UpdateExpression="SET amount = :original",
            ExpressionAttributeValues={":original": entry["amount"]},
        )
    restored = _gridshare(stack, "ledger", "verify")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    print(json.dumps({"walletE2eSeconds": round(time.monotonic() - started, 1)}))
