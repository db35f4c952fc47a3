"""The Stripe webhook route against forgeries, replays and disorder: every delivery is accepted or refused
correctly, and no top-up is ever credited twice.

Events are the Stripe stand-in's own (the real wire format, emitted when a card holder pays through the
SDK); the test delivers them to `POST /v1/payments/stripe/webhook` with a `Stripe-Signature` made from the
secrets it put in Secrets Manager (current + previous: a rotation in progress). After each case the
balances and the number of posted ledger transactions are asserted.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from typing import Any

import boto3
import pytest

from gridshare.wallets.stripe_signature import compute_signature, signature_header
from tests.support.wallets import (
    API_KEY,
    OLD_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    Member,
    Money,
    _data,
    _problem,
    ledger_types,
)


def paid_event(money: Money, who: Member, amount: int = 1000) -> tuple[dict[str, Any], dict[str, Any]]:
    """A top-up paid by card: (the created top-up, the stand-in's payment_intent.succeeded event)."""
    created = _data(money.call("POST", "/v1/wallet/topups", who, {"amount": amount}))
    money.pay(created["paymentIntentId"])
    (event,) = money.events("payment_intent.succeeded", created["paymentIntentId"])
    return created, event


def payment_status(payment_id: str) -> str:
    from gridshare.wallets.models import PaymentModel

    return str(PaymentModel.get(payment_id, consistent_read=True).status)


def event_outcome(event_id: str) -> str | None:
    from gridshare.wallets.models import StripeEventModel

    return StripeEventModel.get(event_id, consistent_read=True).outcome


def refused(response: Any, check: str) -> None:
    assert response.status_code == 400, response.body
    problem = _problem(response)
    assert problem["status"] == 400
    assert problem["errors"][0]["field"] == "Stripe-Signature"
    assert check in problem["detail"], problem["detail"]


# --------------------------------------------------------------------------------- signatures
def test_signature_cases_accept_genuine_deliveries_only_and_never_credit_twice(money: Money) -> None:
    alice = money.member("alice@example.com")
    created, event = paid_event(money, alice, 1000)
    body = json.dumps(event)
    now = int(time.time())

    # tampered body (the amount raised after signing): refused
    tampered = copy.deepcopy(event)
    tampered["data"]["object"]["amount_received"] = 100_000
    header = signature_header(body, [WEBHOOK_SECRET], now)
    refused(money.deliver(tampered, signature=header), "No signature")
    # a byte added to the genuine body: refused
    refused(money.deliver(event, payload=body + " ", signature=header), "No signature")
    # signed with a secret we do not hold: refused
    refused(money.deliver(event, secrets=("whsec_attacker",)), "No signature")
    # no header at all: refused
    refused(money.deliver(event, omit_signature=True), "missing")
    # a header without a v1 signature, or garbage: refused
    refused(money.deliver(event, signature=f"t={now}"), "no v1")
    refused(money.deliver(event, signature="nonsense"), "not key=value")
    # signed 301 s ago (a captured delivery replayed later): refused; 301 s ahead: refused
    refused(money.deliver(event, timestamp=now - 301), "301 s old")
    refused(money.deliver(event, timestamp=now + 301), "in the future")
    # the genuine signature moved to a fresh timestamp: refused (the timestamp is signed)
    old_sig = compute_signature(body, WEBHOOK_SECRET, now - 1000)
    refused(money.deliver(event, signature=f"t={now},v1={old_sig}"), "No signature")
    # Nothing was credited or recorded by any of those
    assert money.available(alice) == 0
    assert ledger_types()["topup"] == 0
    from gridshare.wallets.models import StripeEventModel

    assert StripeEventModel.count() == 0

    # signed 290 s ago with the previous secret (rotation in progress): accepted and credited (the exact
    # 300 s boundary is unit-tested with a fixed clock)
    accepted = money.deliver(event, secrets=(OLD_WEBHOOK_SECRET,), timestamp=int(time.time()) - 290)
    assert accepted.status_code == 200, accepted.body
    assert _data(accepted) == {
        "eventId": event["id"],
        "type": "payment_intent.succeeded",
        "outcome": "credited",
        "duplicate": False,
    }
    assert money.available(alice) == 1000
    assert payment_status(created["id"]) == "succeeded"
    assert ledger_types() == Counter({"topup": 1})


def test_a_header_with_several_v1_signatures_is_accepted_when_any_matches(money: Money) -> None:
    bob = money.member("bob@example.com")
    _, event = paid_event(money, bob, 700)
    # Stripe rolling its secret: one signature with a secret we never held, one with our current secret
    response = money.deliver(event, secrets=("whsec_unknown_new", WEBHOOK_SECRET))
    assert response.status_code == 200, response.body
    assert money.available(bob) == 700


def test_a_secret_rotated_in_secrets_manager_is_picked_up_without_a_redeploy(money: Money) -> None:
    from gridshare.wallets.stripe_gateway import stripe_gateway

    carol = money.member("carol@example.com")
    _, event = paid_event(money, carol, 800)
    # Given the container has read the secret once (a delivery verified)
    other_created, other_event = paid_event(money, carol, 100)
    assert money.deliver(other_event).status_code == 200
    # When the secret is rotated in Secrets Manager to a brand-new webhook secret
    boto3.client("secretsmanager").put_secret_value(
        SecretId=money.secret_arn, SecretString=json.dumps({"apiKey": API_KEY, "webhookSecrets": ["whsec_rotated"]})
    )
    # Then a delivery signed with it is refused while the cached copy is fresh (re-reads are rate-limited)
    refused(money.deliver(event, secrets=("whsec_rotated",)), "No signature")
    # And accepted once the cached copy is older than a minute: the failed check re-reads the secret
    secret = stripe_gateway().secret
    real_clock = secret.clock
    secret.clock = lambda: real_clock() + 61
    response = money.deliver(event, secrets=("whsec_rotated",))
    assert response.status_code == 200, response.body
    assert money.available(carol) == 900
    # And the retired secret no longer verifies
    secret.clock = lambda: real_clock() + 200
    _, third = paid_event(money, carol, 100)
    refused(money.deliver(third, secrets=(WEBHOOK_SECRET,)), "No signature")


# ----------------------------------------------------------------------------------- replays
def test_an_event_delivered_1_to_5_times_credits_once(money: Money) -> None:
    for repeats in range(1, 6):
        dave = money.member(f"dave{repeats}@example.com")
        before = ledger_types()["topup"]
        _, event = paid_event(money, dave, 100 * repeats + 100)
        responses = [money.deliver(event) for _ in range(repeats)]
        assert [r.status_code for r in responses] == [200] * repeats
        assert [_data(r)["duplicate"] for r in responses] == [False] + [True] * (repeats - 1)
        assert {_data(r)["outcome"] for r in responses} == {"credited"}
        assert money.available(dave) == 100 * repeats + 100
        assert ledger_types()["topup"] == before + 1


def test_another_event_for_the_same_intent_cannot_credit_twice(money: Money) -> None:
    erin = money.member("erin@example.com")
    _, event = paid_event(money, erin, 1200)
    assert _data(money.deliver(event))["outcome"] == "credited"
    # Given a second succeeded event (another id) for the same PaymentIntent
    twin = {**copy.deepcopy(event), "id": "evt_twin_of_" + event["id"]}
    response = money.deliver(twin)
    # Then it is accepted, recognised, and posts nothing
    assert response.status_code == 200
    assert _data(response)["outcome"] == "already_credited"
    assert money.available(erin) == 1200
    assert ledger_types() == Counter({"topup": 1})


# ------------------------------------------------------------------------------------ disorder
def test_a_failure_arriving_after_the_success_does_not_undo_it(money: Money) -> None:
    frank = money.member("frank@example.com")
    created, succeeded = paid_event(money, frank, 1500)
    # Given a failed attempt's event, delivered late (after the success)
    failed = copy.deepcopy(succeeded)
    failed.update(id="evt_late_failure", type="payment_intent.payment_failed")
    failed["data"]["object"].update(status="requires_payment_method", last_payment_error={"message": "declined"})
    canceled = copy.deepcopy(failed)
    canceled.update(id="evt_late_cancel", type="payment_intent.canceled")
    assert _data(money.deliver(succeeded))["outcome"] == "credited"
    # Then both are accepted and ignored: the payment stays succeeded, the credit stays
    assert _data(money.deliver(failed))["outcome"] == "ignored_after_success"
    assert _data(money.deliver(canceled))["outcome"] == "ignored_after_success"
    assert payment_status(created["id"]) == "succeeded"
    assert money.available(frank) == 1500
    assert ledger_types() == Counter({"topup": 1})


def test_a_declined_card_is_recorded_and_a_later_success_still_credits(money: Money) -> None:
    gina = money.member("gina@example.com")
    created = _data(money.call("POST", "/v1/wallet/topups", gina, {"amount": 900}))
    intent = created["paymentIntentId"]
    # When the card is declined
    money.pay(intent, "pm_card_chargeDeclined")
    (failed,) = money.events("payment_intent.payment_failed", intent)
    assert _data(money.deliver(failed))["outcome"] == "recorded_failed"
    assert payment_status(created["id"]) == "failed"
    from gridshare.wallets.models import PaymentModel

    assert PaymentModel.get(created["id"]).failure_reason == "Your card was declined."
    assert money.available(gina) == 0
    # When the card holder retries with a good card
    money.pay(intent)
    (succeeded,) = money.events("payment_intent.succeeded", intent)
    assert _data(money.deliver(succeeded))["outcome"] == "credited"
    assert payment_status(created["id"]) == "succeeded"
    assert money.available(gina) == 900
    # And the failure delivered once more (Stripe retries) changes nothing
    assert _data(money.deliver(failed))["duplicate"] is True
    assert payment_status(created["id"]) == "succeeded"
    assert ledger_types() == Counter({"topup": 1})


def test_a_cancellation_is_recorded(money: Money) -> None:
    hank = money.member("hank@example.com")
    created = _data(money.call("POST", "/v1/wallet/topups", hank, {"amount": 400}))
    money.stripe().v1.payment_intents.cancel(created["paymentIntentId"])
    (canceled,) = money.events("payment_intent.canceled", created["paymentIntentId"])
    assert _data(money.deliver(canceled))["outcome"] == "recorded_canceled"
    assert payment_status(created["id"]) == "canceled"
    assert ledger_types()["topup"] == 0


def test_a_success_for_an_unknown_intent_is_accepted_and_recorded_never_retried_forever(money: Money) -> None:
    ivy = money.member("ivy@example.com")
    _, event = paid_event(money, ivy, 500)
    stranger = copy.deepcopy(event)
    stranger["id"] = "evt_stranger"
    stranger["data"]["object"].update(id="pi_not_ours", metadata={})
    response = money.deliver(stranger)
    assert response.status_code == 200
    assert _data(response)["outcome"] == "unknown_payment"
    assert event_outcome("evt_stranger") == "unknown_payment"
    assert ledger_types()["topup"] == 0
    # And a payment id in the metadata that names another intent's payment is not trusted
    forged = copy.deepcopy(stranger)
    forged["id"] = "evt_forged_meta"
    forged["data"]["object"]["metadata"] = event["data"]["object"]["metadata"]
    assert _data(money.deliver(forged))["outcome"] == "unknown_payment"
    assert money.available(ivy) == 0


def test_an_amount_that_does_not_match_the_payment_is_not_credited(money: Money) -> None:
    jack = money.member("jack@example.com")
    _, event = paid_event(money, jack, 600)
    odd = copy.deepcopy(event)
    odd["data"]["object"]["amount_received"] = 60_000
    assert _data(money.deliver(odd))["outcome"] == "amount_mismatch"
    assert money.available(jack) == 0
    assert ledger_types()["topup"] == 0


def test_unknown_event_types_are_accepted_and_ignored(money: Money) -> None:
    kim = money.member("kim@example.com")
    created = _data(money.call("POST", "/v1/wallet/topups", kim, {"amount": 300}))
    (created_event,) = money.events("payment_intent.created", created["paymentIntentId"])
    for event in (
        created_event,
        {"id": "evt_charge", "object": "event", "type": "charge.refunded", "data": {"object": {"id": "ch_1"}}},
    ):
        response = money.deliver(event)
        assert response.status_code == 200
        assert _data(response)["outcome"] == "ignored"
    assert ledger_types() == Counter()


def test_a_signed_body_that_is_not_an_event_is_a_400(money: Money) -> None:
    for payload in ("not json", "[]", json.dumps({"type": "payment_intent.succeeded"})):
        response = money.deliver({}, payload=payload)
        assert response.status_code == 400, payload
    assert ledger_types() == Counter()


@pytest.mark.parametrize("order", ["failed-succeeded-failed", "succeeded-failed-succeeded"])
def test_every_interleaving_ends_succeeded_with_one_credit(money: Money, order: str) -> None:
    liam = money.member("liam@example.com")
    created = _data(money.call("POST", "/v1/wallet/topups", liam, {"amount": 2000}))
    intent = created["paymentIntentId"]
    money.pay(intent, "pm_card_chargeDeclined")
    money.pay(intent)
    by_type = {e["type"].rsplit(".", 1)[1]: e for e in money.events(intent=intent)}
    for step in order.split("-"):
        assert money.deliver(by_type["payment_failed" if step == "failed" else "succeeded"]).status_code == 200
    assert payment_status(created["id"]) == "succeeded"
    assert money.available(liam) == 2000
    assert ledger_types() == Counter({"topup": 1})
