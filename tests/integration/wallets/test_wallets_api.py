"""Wallets through the whole API (Chalice's test client) against moto and the local Stripe stand-in.

The stand-in speaks Stripe's wire format to the official SDK; its webhooks are not posted over HTTP (the
test client has no port): each test takes the events the stand-in emitted and delivers them to
`POST /v1/payments/stripe/webhook` itself, signed with the secret held in Secrets Manager, as Stripe would.
Every money request is repeated 1-5 times to show it posts exactly once; balances and ledger
transaction counts are asserted after each scenario, and the ledger is verified at the end of each.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.support.wallets import (
    Money,
    _data,
    _problem,
    ledger_types,
    lose_first_answer,
    stripe_objects,
)


def test_a_topup_paid_by_card_is_credited_by_the_signed_webhook(money: Money) -> None:
    # Given a prosumer with an empty wallet
    alice = money.member("alice@example.com")
    assert money.wallet(alice)["EUR"] == {
        "asset": "EUR",
        "currency": "EUR",
        "minorUnits": 2,
        "available": 0,
        "pending": 0,
        "total": 0,
    }
    # When she starts a top-up
    response = money.call("POST", "/v1/wallet/topups", alice, {"amount": 2500, "currency": "EUR"})
    # Then she gets a PaymentIntent's client secret, and nothing is credited yet
    assert response.status_code == 201, response.body
    created = _data(response)
    assert set(created) >= {"id", "paymentIntentId", "clientSecret", "amount", "currency", "status"}
    assert (created["amount"], created["currency"], created["status"]) == (2500, "EUR", "pending")
    assert created["clientSecret"].startswith(created["paymentIntentId"] + "_secret_")
    intent = money.standin.objects[created["paymentIntentId"]]
    assert intent["amount"] == 2500 and intent["currency"] == "eur"
    assert intent["metadata"] == {"payment_id": created["id"], "user_id": alice.user_id}
    money.deliver_new_events()  # payment_intent.created: ignored
    assert money.available(alice) == 0 and ledger_types()["topup"] == 0
    # When she pays with a test card and Stripe's webhook arrives
    money.pay(created["paymentIntentId"])
    responses = money.deliver_new_events()
    # Then the wallet is credited, once
    assert [_data(r)["outcome"] for r in responses] == ["credited"]
    assert money.available(alice) == 2500
    assert ledger_types() == Counter({"topup": 1})
    history = _data(money.call("GET", "/v1/wallet/transactions", alice))
    assert [(t["id"], t["type"], t["amount"], t["currency"]) for t in history] == [
        (f"topup:{created['id']}", "topup", 2500, "EUR")
    ]
    verified = money.verify()
    assert (verified["ok"], verified["problems"]) == (True, [])


def test_a_topup_request_repeated_1_to_5_times_with_its_idempotency_key_creates_one_payment(money: Money) -> None:
    for repeats in range(1, 6):
        # Given a user who sends the same top-up request `repeats` times with one Idempotency-Key
        bob = money.member(f"bob{repeats}@example.com")
        intents_before = len(stripe_objects(money.standin, "payment_intent"))
        topups_before = ledger_types()["topup"]
        responses = [
            money.call("POST", "/v1/wallet/topups", bob, {"amount": 1000, "currency": "EUR"}, key="topup-key-1")
            for _ in range(repeats)
        ]
        # Then every answer is the first one, and the later ones say they are replays
        assert {r.status_code for r in responses} == {201}
        assert len({r.body for r in responses}) == 1
        assert [r.headers.get("Idempotent-Replayed") for r in responses] == [None] + ["true"] * (repeats - 1)
        # And Stripe saw one PaymentIntent; paying it and delivering its events `repeats` times credits once
        assert len(stripe_objects(money.standin, "payment_intent")) == intents_before + 1
        intent = _data(responses[0])["paymentIntentId"]
        money.pay(intent)
        for _ in range(repeats):
            for event in money.events("payment_intent.succeeded", intent):
                assert money.deliver(event).status_code == 200
        assert money.available(bob) == 1000
        assert ledger_types()["topup"] == topups_before + 1


def test_the_same_idempotency_key_with_another_body_is_refused_with_422(money: Money) -> None:
    carol = money.member("carol@example.com")
    first = money.call("POST", "/v1/wallet/topups", carol, {"amount": 1000}, key="k-1")
    assert first.status_code == 201
    # When the key is reused with another amount
    reused = money.call("POST", "/v1/wallet/topups", carol, {"amount": 2000}, key="k-1")
    # Then it is refused, naming the header, and no second PaymentIntent exists
    assert reused.status_code == 422
    assert _problem(reused)["errors"][0]["field"] == "Idempotency-Key"
    assert len(stripe_objects(money.standin, "payment_intent")) == 1
    # And the same key on another route, or by another user, is another request
    dave = money.member("dave@example.com")
    assert money.call("POST", "/v1/wallet/topups", dave, {"amount": 2000}, key="k-1").status_code == 201
    assert len(stripe_objects(money.standin, "payment_intent")) == 2


def test_a_topup_whose_response_was_lost_is_resumed_by_its_retry_with_the_same_ids(money: Money) -> None:
    # Given Stripe creates the PaymentIntent but the answer never reaches us (a lost response)
    lose_first_answer("create_payment_intent")
    erin = money.member("erin@example.com")
    # When the client sends the top-up and gets a 503
    lost = money.call("POST", "/v1/wallet/topups", erin, {"amount": 1500}, key="retry-me")
    assert lost.status_code == 503
    # Then its retry with the same key succeeds with the same PaymentIntent (Stripe's idempotency)
    retry = money.call("POST", "/v1/wallet/topups", erin, {"amount": 1500}, key="retry-me")
    assert retry.status_code == 201, retry.body
    assert len(stripe_objects(money.standin, "payment_intent")) == 1
    assert _data(retry)["paymentIntentId"] in money.standin.objects
    from gridshare.wallets.models import PaymentModel

    assert [p.id for p in PaymentModel.scan()] == [_data(retry)["id"]]


TOPUP_REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"amount": 10.5}, "amount"),
    ({"amount": 1000.0}, "amount"),
    ({"amount": "1000"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": 99}, "amount"),
    ({"amount": 1_000_001}, "amount"),
    ({"amount": 1000, "currency": "XXX"}, "currency"),
    ({"amount": 1000, "extra": 1}, "extra"),
    ({}, "amount"),
]


def test_topup_amounts_are_integers_within_limits(money: Money) -> None:
    frank = money.member("frank@example.com")
    for body, field_name in TOPUP_REFUSALS:
        response = money.call("POST", "/v1/wallet/topups", frank, body)
        assert response.status_code == 422, (body, response.body)
        assert field_name in [e["field"] for e in _problem(response)["errors"]], body
    assert stripe_objects(money.standin, "payment_intent") == []


def test_a_lower_case_currency_and_the_default_currency_are_accepted(money: Money) -> None:
    gina = money.member("gina@example.com")
    assert _data(money.call("POST", "/v1/wallet/topups", gina, {"amount": 500, "currency": "usd"}))["currency"] == "USD"
    assert _data(money.call("POST", "/v1/wallet/topups", gina, {"amount": 500}))["currency"] == "EUR"


def test_wallet_routes_admit_wallet_owners_only(money: Money) -> None:
    viewer = money.member("viewer@example.com", "consumer")
    # a consumer has a wallet
    assert money.call("GET", "/v1/wallet", viewer).status_code == 200
    # anonymous callers are refused
    assert money.call("GET", "/v1/wallet", None).status_code == 401
    # a prosumer cannot use admin routes
    assert money.call("GET", "/v1/admin/metrics", viewer).status_code == 403
    assert money.call("POST", "/v1/admin/refunds", viewer, {"transactionId": "x"}).status_code == 403


def test_a_viewer_has_no_wallet_and_investors_do(money: Money) -> None:
    # Given an investor, When they top up and read their wallet, Then it works as for any wallet owner
    investor = money.member("iris@example.com", role="investor")
    money.topup(investor, 1200)
    assert money.available(investor) == 1200
    # Given a user an admin turned into a viewer, When they log in again, Then every wallet route is refused
    viewer = money.member("vic@example.com")
    patched = money.call("PATCH", f"/v1/users/{viewer.user_id}", money.admin, {"role": "viewer"})
    assert patched.status_code == 200, patched.body
    login = money.api.call("POST", "/v1/auth/login", {"email": viewer.email, "password": "Passw0rd!x"})
    token = json.loads(login.body)["data"]["accessToken"]
    for method, path in (("GET", "/v1/wallet"), ("GET", "/v1/wallet/transactions"), ("GET", "/v1/statements")):
        assert money.api.call(method, path, token=token).status_code == 403, path
    assert money.api.call("POST", "/v1/wallet/topups", {"amount": 500}, token=token).status_code == 403


# ------------------------------------------------------------------------------------ withdrawals
def test_a_withdrawal_moves_funds_to_pending_and_is_refused_above_the_available_balance(money: Money) -> None:
    hank = money.member("hank@example.com")
    money.topup(hank, 5000)
    # When he asks for more than he has
    refused = money.call("POST", "/v1/wallet/withdrawals", hank, {"amount": 5001})
    # Then it is a 409 that names the amount, and nothing moved
    assert refused.status_code == 409
    problem = _problem(refused)
    assert problem["errors"] == [{"field": "amount", "message": "insufficient funds"}]
    assert "5000" in problem["detail"]
    assert money.wallet(hank)["EUR"]["available"] == 5000
    # When he asks for part of it
    created = money.call("POST", "/v1/wallet/withdrawals", hank, {"amount": 1200})
    assert created.status_code == 201, created.body
    withdrawal = _data(created)
    assert (withdrawal["amount"], withdrawal["currency"], withdrawal["status"]) == (1200, "EUR", "requested")
    # Then the amount is pending, no longer available
    eur = money.wallet(hank)["EUR"]
    assert (eur["available"], eur["pending"], eur["total"]) == (3800, 1200, 5000)
    assert ledger_types() == Counter({"topup": 1, "withdrawal_request": 1})
    # And a float is refused like any non-integer amount
    assert money.call("POST", "/v1/wallet/withdrawals", hank, {"amount": 1.5}).status_code == 422


def test_a_withdrawal_request_repeated_1_to_5_times_with_its_key_posts_once(money: Money) -> None:
    for repeats in range(1, 6):
        ivy = money.member(f"ivy{repeats}@example.com")
        money.topup(ivy, 3000)
        before = ledger_types()["withdrawal_request"]
        responses = [
            money.call("POST", "/v1/wallet/withdrawals", ivy, {"amount": 1000}, key="withdraw-1")
            for _ in range(repeats)
        ]
        assert {r.status_code for r in responses} == {201}
        assert len({r.body for r in responses}) == 1
        assert money.wallet(ivy)["EUR"]["available"] == 2000
        assert money.wallet(ivy)["EUR"]["pending"] == 1000
        assert ledger_types()["withdrawal_request"] == before + 1
    # And a refused request (too much) does not burn its key: after a top-up the same key works
    key = "withdraw-2"
    assert money.call("POST", "/v1/wallet/withdrawals", ivy, {"amount": 2500}, key=key).status_code == 409
    money.topup(ivy, 1000)
    assert money.call("POST", "/v1/wallet/withdrawals", ivy, {"amount": 2500}, key=key).status_code == 201
    assert money.wallet(ivy)["EUR"]["available"] == 500


def test_an_admin_approval_pays_out_through_stripe_and_settles_once(money: Money) -> None:
    jack = money.member("jack@example.com")
    money.topup(jack, 4000)
    withdrawal = _data(money.call("POST", "/v1/wallet/withdrawals", jack, {"amount": 1500}))
    path = f"/v1/admin/withdrawals/{withdrawal['id']}/approve"
    # The admin sees it among the requested withdrawals
    listed = _data(money.call("GET", "/v1/admin/withdrawals?status=requested", money.admin))
    assert [w["id"] for w in listed] == [withdrawal["id"]]
    # When the admin approves it (three times with one Idempotency-Key)
    approvals = [money.call("POST", path, money.admin, key="approve-1") for _ in range(3)]
    # Then each answer is the first, the payout went out once with the withdrawal id as Stripe key
    assert {r.status_code for r in approvals} == {200}
    assert len({r.body for r in approvals}) == 1
    approved = _data(approvals[0])
    assert approved["status"] == "approved" and approved["payoutId"].startswith("po_")
    payouts = stripe_objects(money.standin, "payout")
    assert [(p["id"], p["amount"], p["currency"]) for p in payouts] == [(approved["payoutId"], 1500, "eur")]
    assert payouts[0]["metadata"] == {"withdrawal_id": withdrawal["id"], "user_id": jack.user_id}
    assert money.standin._idempotency.get(withdrawal["id"]) is not None
    # And the pending amount is settled, not returned
    eur = money.wallet(jack)["EUR"]
    assert (eur["available"], eur["pending"]) == (2500, 0)
    assert ledger_types() == Counter({"topup": 1, "withdrawal_request": 1, "withdrawal_approve": 1})
    # And it cannot be decided again, without a key or the other way
    again = money.call("POST", path, money.admin)
    assert again.status_code == 409 and "approved" in _problem(again)["detail"]
    reject = money.call("POST", f"/v1/admin/withdrawals/{withdrawal['id']}/reject", money.admin, {})
    assert reject.status_code == 409
    assert (
        money.call("POST", "/v1/admin/withdrawals/01JUNKNOWNWITHDRAWAL000000/approve", money.admin).status_code == 404
    )
    assert money.verify()["ok"] is True


def test_an_admin_rejection_releases_the_funds(money: Money) -> None:
    kim = money.member("kim@example.com")
    money.topup(kim, 2000)
    withdrawal = _data(money.call("POST", "/v1/wallet/withdrawals", kim, {"amount": 2000}))
    assert money.wallet(kim)["EUR"]["available"] == 0
    # When the admin rejects it with a reason
    response = money.call(
        "POST", f"/v1/admin/withdrawals/{withdrawal['id']}/reject", money.admin, {"reason": "bank details missing"}
    )
    # Then the amount is back in the wallet, and no payout was made
    assert response.status_code == 200, response.body
    assert (_data(response)["status"], _data(response)["reason"]) == ("rejected", "bank details missing")
    eur = money.wallet(kim)["EUR"]
    assert (eur["available"], eur["pending"]) == (2000, 0)
    assert stripe_objects(money.standin, "payout") == []
    # And approving it now is refused
    assert money.call("POST", f"/v1/admin/withdrawals/{withdrawal['id']}/approve", money.admin).status_code == 409
    assert ledger_types() == Counter({"topup": 1, "withdrawal_request": 1, "withdrawal_reject": 1})


def test_an_approval_interrupted_after_the_payout_is_resumed_without_a_second_payout(money: Money) -> None:
    liam = money.member("liam@example.com")
    money.topup(liam, 1000)
    withdrawal = _data(money.call("POST", "/v1/wallet/withdrawals", liam, {"amount": 700}))
    lose_first_answer("payout")
    path = f"/v1/admin/withdrawals/{withdrawal['id']}/approve"
    # When the payout's answer is lost, the approval answers 503 and the withdrawal is being approved
    assert money.call("POST", path, money.admin).status_code == 503
    listed = _data(money.call("GET", "/v1/admin/withdrawals?status=approving", money.admin))
    assert [w["id"] for w in listed] == [withdrawal["id"]]
    # And a rejection now is refused (the payout may have gone out)
    assert money.call("POST", f"/v1/admin/withdrawals/{withdrawal['id']}/reject", money.admin, {}).status_code == 409
    # When the admin approves again, it completes with the same payout
    resumed = money.call("POST", path, money.admin)
    assert resumed.status_code == 200, resumed.body
    assert len(stripe_objects(money.standin, "payout")) == 1
    assert ledger_types()["withdrawal_approve"] == 1
    assert money.wallet(liam)["EUR"]["pending"] == 0


# ---------------------------------------------------------------------------------------- refunds
def test_refunds_are_partial_never_above_the_original_and_posted_once(money: Money) -> None:
    mia = money.member("mia@example.com")
    topup = money.topup(mia, 5000)
    # When an admin refunds part of the top-up, by its payment id, three times with one key
    responses = [
        money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": topup["id"], "amount": 1500}, key="r-1")
        for _ in range(3)
    ]
    assert {r.status_code for r in responses} == {201}
    refund = _data(responses[0])
    assert (refund["amount"], refund["refundedTotal"], refund["refundable"], refund["status"]) == (
        1500,
        1500,
        3500,
        "succeeded",
    )
    assert refund["originalTransactionId"] == f"topup:{topup['id']}"
    assert money.available(mia) == 3500
    assert money.standin.objects[topup["paymentIntentId"]]["amount_refunded"] == 1500
    # When more than the rest is asked for, by the ledger transaction id
    over = money.call(
        "POST", "/v1/admin/refunds", money.admin, {"transactionId": f"topup:{topup['id']}", "amount": 3501}
    )
    # Then it is refused naming the amount, and nothing moved
    assert over.status_code == 422
    assert _problem(over)["errors"][0]["field"] == "amount"
    # When the rest is refunded without an amount, by the PaymentIntent id
    rest = money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": topup["paymentIntentId"]})
    assert rest.status_code == 201, rest.body
    assert (_data(rest)["amount"], _data(rest)["refundable"]) == (3500, 0)
    # Then the top-up is fully refunded: one more refund is refused
    assert money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": topup["id"]}).status_code == 422
    assert money.available(mia) == 0
    assert money.standin.objects[topup["paymentIntentId"]]["amount_refunded"] == 5000
    assert ledger_types() == Counter({"topup": 1, "refund": 2})
    assert len(stripe_objects(money.standin, "refund")) == 2
    assert money.verify()["ok"] is True


def test_a_refund_of_money_already_spent_is_refused_and_releases_its_reservation(money: Money) -> None:
    noah = money.member("noah@example.com")
    topup = money.topup(noah, 3000)
    assert money.call("POST", "/v1/wallet/withdrawals", noah, {"amount": 2500}).status_code == 201
    # When a full refund is asked while only 500 remains in the wallet
    refused = money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": topup["id"]})
    # Then it is refused (409 naming the amount), Stripe refunded nothing, and the top-up stays refundable
    assert refused.status_code == 409
    assert _problem(refused)["errors"][0]["field"] == "amount"
    assert stripe_objects(money.standin, "refund") == []
    partial = money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": topup["id"], "amount": 500})
    assert partial.status_code == 201, partial.body
    assert _data(partial)["refundable"] == 2500
    assert ledger_types() == Counter({"topup": 1, "withdrawal_request": 1, "refund": 1})


def test_refunds_of_unknown_or_unpaid_topups_are_refused(money: Money) -> None:
    olga = money.member("olga@example.com")
    unpaid = _data(money.call("POST", "/v1/wallet/topups", olga, {"amount": 1000}))
    assert money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": unpaid["id"]}).status_code == 409
    assert money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": "nope"}).status_code == 404
    assert money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": "pi_nope"}).status_code == 404
    assert (
        money.call("POST", "/v1/admin/refunds", money.admin, {"transactionId": unpaid["id"], "amount": 0}).status_code
        == 422
    )


# ------------------------------------------------------------------------------------------ sales
def test_a_sale_is_split_45_35_20_exactly_in_one_transaction(money: Money) -> None:
    buyer = money.member("buyer@example.com", "consumer")
    host = money.member("host@example.com", "prosumer")
    inv_a = money.member("inv.a@example.com", "investor")
    inv_b = money.member("inv.b@example.com", "investor")
    inv_c = money.member("inv.c@example.com", "investor")
    money.topup(buyer, 10_000)
    shares = {inv_a.user_id: 1, inv_b.user_id: 1, inv_c.user_id: 1}
    body = {
        "hostId": host.user_id,
        "buyerId": buyer.user_id,
        "siteId": "site-1",
        "gross": 1001,
        "currency": "EUR",
        "investorShares": shares,
    }
    # When an admin records a sale of 10.01 EUR (three times, one key)
    responses = [money.call("POST", "/v1/admin/sales", money.admin, body, key="sale-1") for _ in range(3)]
    assert {r.status_code for r in responses} == {201}, responses[0].body
    sale = _data(responses[0])
    split = sale["split"]
    # Then host 45 %, investors 35 %, platform 20 % of 1001: 450.45 / 350.35 / 200.2, the leftover cent to
    # the largest fraction (the host); the investors' 350 in equal thirds: 116.67 each, two get the extra cents
    assert split["host"] == 451 and split["platform"] == 200
    assert sorted(split["investors"].values()) == [116, 117, 117]
    assert split["host"] + split["platform"] + sum(split["investors"].values()) + split["pool"] == 1001
    # And every party's wallet moved by exactly its part, once
    assert money.available(buyer) == 10_000 - 1001
    assert money.available(host) == 451
    assert [money.available(i) for i in (inv_a, inv_b, inv_c)] == [
        split["investors"][i.user_id] for i in (inv_a, inv_b, inv_c)
    ]
    assert ledger_types() == Counter({"topup": 1, "sale": 1})
    metrics = _data(money.call("GET", "/v1/admin/metrics", money.admin))
    assert metrics["feesEarned"] == {"EUR": 200}


def test_sales_refuse_unknown_parties_an_unaffordable_gross_and_float_amounts(money: Money) -> None:
    buyer = money.member("poor.buyer@example.com", "consumer")
    host = money.member("poor.host@example.com")
    base = {"hostId": host.user_id, "buyerId": buyer.user_id, "siteId": "site-1", "gross": 500, "currency": "EUR"}
    # an empty share table is refused unless the caller says where the investors' part goes
    assert money.call("POST", "/v1/admin/sales", money.admin, {**base, "investorShares": {}}).status_code == 422
    unknown = money.call("POST", "/v1/admin/sales", money.admin, {**base, "investorShares": {"ghost": 1}})
    assert unknown.status_code == 422
    assert [e["field"] for e in _problem(unknown)["errors"]] == ["investorShares.ghost"]
    poor = money.call("POST", "/v1/admin/sales", money.admin, {**base, "noInvestors": "pool"})
    assert poor.status_code == 409 and _problem(poor)["errors"][0]["field"] == "gross"
    assert money.call("POST", "/v1/admin/sales", money.admin, {**base, "gross": 5.5}).status_code == 422
    assert ledger_types()["sale"] == 0


def test_a_sale_without_investors_can_hold_their_part_in_the_site_pool(money: Money) -> None:
    buyer = money.member("pool.buyer@example.com", "consumer")
    host = money.member("pool.host@example.com")
    money.topup(buyer, 1000)
    body = {
        "hostId": host.user_id,
        "buyerId": buyer.user_id,
        "siteId": "site-9",
        "gross": 999,
        "noInvestors": "pool",
    }
    sale = _data(money.call("POST", "/v1/admin/sales", money.admin, body))
    # 999: 449.55 / 349.65 / 199.8 -> floors 449 + 349 + 199, the two leftover cents to .8 and .65
    assert sale["split"] == {"host": 449, "investors": {}, "pool": 350, "platform": 200}
    assert money.verify()["ok"] is True


def test_record_sale_is_the_service_the_settlement_context_calls() -> None:
    # Given the in-memory reference ledger with a funded buyer
    from gridshare.ledger import core as L
    from gridshare.wallets.service import record_sale

    ledger = L.Ledger()
    ledger.post(L.topup("t1", "buyer", 100_000, "EUR"))
    # When a settlement run posts the same sale twice (a retried run)
    first = record_sale(
        "run-7.0900.buyer",
        buyer_id="buyer",
        host_id="host",
        site_id="s1",
        gross=12_345,
        currency="EUR",
        investor_shares={"i1": 3, "i2": 1},
        energy_wh=None,
        ledger=ledger,
    )
    second = record_sale(
        "run-7.0900.buyer",
        buyer_id="buyer",
        host_id="host",
        site_id="s1",
        gross=12_345,
        currency="EUR",
        investor_shares={"i1": 3, "i2": 1},
        ledger=ledger,
    )
    # Then it is posted once, and the parts sum to the gross
    assert (first.replayed, second.replayed) == (False, True)
    assert first.split.total == 12_345
    assert ledger.balance(L.user_wallet("buyer", "EUR")) == 100_000 - 12_345
    assert ledger.verify() == []


# ---------------------------------------------------------------------- history, statements, metrics
def test_transactions_are_paginated_newest_first_and_filtered_by_type_and_time(money: Money) -> None:
    pia = money.member("pia@example.com")
    for amount in (1000, 2000, 3000):
        money.topup(pia, amount)
    money.call("POST", "/v1/wallet/withdrawals", pia, {"amount": 500})
    # When she pages through her history two at a time
    first = json.loads(money.call("GET", "/v1/wallet/transactions?limit=2", pia).body)
    assert first["pagination"]["limit"] == 2 and first["pagination"]["nextCursor"]
    second = json.loads(
        money.call("GET", f"/v1/wallet/transactions?limit=2&cursor={first['pagination']['nextCursor']}", pia).body
    )
    # Then she gets every entry once, newest first
    amounts = [t["amount"] for t in first["data"] + second["data"]]
    assert amounts == [-500, 3000, 2000, 1000]
    assert second["pagination"]["nextCursor"] is None
    # When she filters by type, and by time
    topups = _data(money.call("GET", "/v1/wallet/transactions?type=topup", pia))
    assert [t["amount"] for t in topups] == [3000, 2000, 1000]
    future = (datetime.now(tz=UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert _data(money.call("GET", f"/v1/wallet/transactions?from={future}", pia)) == []
    past = (datetime.now(tz=UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert len(_data(money.call("GET", f"/v1/wallet/transactions?from={past}&to={future}", pia))) == 4
    assert _data(money.call("GET", f"/v1/wallet/transactions?to={past}", pia)) == []
    # And another user cannot continue her listing with her cursor
    quinn = money.member("quinn@example.com")
    stolen = money.call("GET", f"/v1/wallet/transactions?cursor={first['pagination']['nextCursor']}", quinn)
    assert stolen.status_code == 400
    assert money.call("GET", "/v1/wallet/transactions?type=bogus", pia).status_code == 422
    assert money.call("GET", "/v1/wallet/transactions?cursor=forged", pia).status_code == 400


def test_a_transactions_window_is_sane_ordered_and_at_most_a_year(money: Money) -> None:
    uma = money.member("uma@example.com")
    money.topup(uma, 1000)
    now = datetime.now(tz=UTC)
    soon = now + timedelta(minutes=1)
    year_before = soon - timedelta(days=366)

    def listing(**params: str) -> Any:
        query = "&".join(f"{name}={value}" for name, value in params.items())
        return money.call("GET", f"/v1/wallet/transactions?{query}", uma)

    # A year, or an open side, is a window; the listing pages newest first whatever the window
    assert len(_data(listing(**{"from": _iso(year_before), "to": _iso(soon)}))) == 1
    assert len(_data(listing(**{"from": "2000-01-01T00:00:00Z"}))) == 1
    # Longer, reversed, empty or insane windows name `from` or `to`
    for params, field in (
        ({"from": _iso(year_before - timedelta(seconds=1)), "to": _iso(soon)}, "from"),
        ({"from": _iso(now), "to": _iso(now - timedelta(seconds=1))}, "from"),
        ({"from": _iso(now), "to": _iso(now)}, "from"),
        ({"from": "-1"}, "from"),
        ({"to": "99999999999999"}, "to"),
    ):
        refused = listing(**params)
        assert refused.status_code == 422, (params, refused.body)
        assert [e["field"] for e in json.loads(refused.body)["errors"]] == [field], params
    assert listing(limit="201").status_code == 422


def test_a_listing_cut_short_by_the_deadline_pages_through_every_entry_once(
    money: Money, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridshare.kernel import clock
    from gridshare.kernel.aws import client
    from gridshare.kernel.settings import reset_settings

    # Given entries in two of her accounts
    ola = money.member("ola@example.com")
    for amount, currency in ((1000, "EUR"), (2000, "USD"), (3000, "EUR"), (4000, "USD"), (5000, "EUR")):
        money.topup(ola, amount, currency=currency)
    whole = _data(money.call("GET", "/v1/wallet/transactions", ola))
    assert len(whole) == 5
    # When every ledger query takes longer than the request's whole budget (on the frozen clock)
    monkeypatch.setenv("GS_REQUEST_DEADLINE_MS", "2500")
    reset_settings()
    paged: list[dict[str, Any]] = []
    with clock.frozen() as frozen:

        def slow_query(**_: Any) -> None:
            frozen.advance(5)

        client("dynamodb").meta.events.register("before-call.dynamodb.Query", slow_query)
        cursor, pages = "", 0
        while cursor is not None and pages < 20:
            response = money.call("GET", f"/v1/wallet/transactions?limit=3{cursor and '&cursor=' + cursor}", ola)
            assert response.status_code == 200, response.body
            body = json.loads(response.body)
            paged += body["data"]
            cursor, pages = body["pagination"]["nextCursor"], pages + 1
    # Then each read stopped after one entry, and the pages still hold every entry once, newest first
    assert pages > 2 and [t["id"] for t in paged] == [t["id"] for t in whole]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_the_daily_statement_shows_opening_credits_debits_closing_and_lines(money: Money) -> None:
    rex = money.member("rex@example.com")
    money.topup(rex, 4000)
    money.topup(rex, 1000)
    withdrawal = _data(money.call("POST", "/v1/wallet/withdrawals", rex, {"amount": 1500}))
    money.call("POST", f"/v1/admin/withdrawals/{withdrawal['id']}/reject", money.admin, {"reason": "test"})
    today = datetime.now(tz=UTC).date()
    # When he asks for today's statement
    statement = _data(money.call("GET", f"/v1/statements?date={today.isoformat()}", rex))
    # Then the EUR statement adds up
    assert statement["date"] == today.isoformat()
    (eur,) = statement["statements"]
    assert (eur["asset"], eur["opening"], eur["credits"], eur["debits"], eur["closing"]) == ("EUR", 0, 6500, 1500, 5000)
    assert [(line["type"], line["amount"], line["balanceAfter"]) for line in eur["lines"]] == [
        ("topup", 4000, 4000),
        ("topup", 1000, 5000),
        ("withdrawal_request", -1500, 3500),
        ("withdrawal_reject", 1500, 5000),
    ]
    # And tomorrow opens where today closed, with no lines; yesterday had nothing
    tomorrow = _data(money.call("GET", f"/v1/statements?date={(today + timedelta(days=1)).isoformat()}", rex))
    assert tomorrow["statements"][0] | {"lines": []} == {**eur, "opening": 5000, "credits": 0, "debits": 0, "lines": []}
    yesterday = _data(money.call("GET", f"/v1/statements?date={(today - timedelta(days=1)).isoformat()}", rex))
    assert (yesterday["statements"][0]["opening"], yesterday["statements"][0]["closing"]) == (0, 0)
    # And the default date is today; a malformed date is refused
    assert _data(money.call("GET", "/v1/statements", rex)) == statement
    assert money.call("GET", "/v1/statements?date=2025-13-01", rex).status_code == 422


def test_admin_metrics_report_volumes_fees_balances_and_pending_withdrawals(money: Money) -> None:
    sam = money.member("sam@example.com")
    tia = money.member("tia@example.com")
    money.topup(sam, 3000)
    money.topup(tia, 2000)
    money.call("POST", "/v1/wallet/withdrawals", sam, {"amount": 700})
    money.call(
        "POST",
        "/v1/admin/sales",
        money.admin,
        {"hostId": tia.user_id, "buyerId": sam.user_id, "siteId": "s", "gross": 1000, "noInvestors": "host"},
    )
    metrics = _data(money.call("GET", "/v1/admin/metrics", money.admin))
    assert metrics["transactions"] == 4
    assert metrics["volumes"] == {
        "sale": {"EUR": {"count": 1, "amount": 1000}},
        "topup": {"EUR": {"count": 2, "amount": 5000}},
        "withdrawal_request": {"EUR": {"count": 1, "amount": 700}},
    }
    assert metrics["feesEarned"] == {"EUR": 200} and metrics["platformRevenue"] == {"EUR": 200}
    # users hold what they paid in minus what is pending or went to the platform
    assert metrics["balancesHeld"] == {"EUR": 5000 - 700 - 200}
    assert metrics["pendingWithdrawals"] == {"EUR": {"amount": 700, "count": 1}}
    # a window in the future holds no volume, the snapshot figures stay
    future = (datetime.now(tz=UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    later = _data(money.call("GET", f"/v1/admin/metrics?from={future}", money.admin))
    assert (later["transactions"], later["volumes"], later["feesEarned"]) == (0, {}, {})
    assert later["pendingWithdrawals"] == metrics["pendingWithdrawals"]


def test_ledger_verify_passes_and_reports_an_edited_entry(money: Money) -> None:
    from gridshare.ledger.models import LedgerEntryModel

    una = money.member("una@example.com")
    money.topup(una, 1234)
    assert money.verify()["ok"] is True
    # When someone edits an entry's amount in the table
    entry = next(e for e in LedgerEntryModel.scan() if e.account.startswith("user:"))
    entry.update(actions=[LedgerEntryModel.amount.set(99_999)])
    # Then verification fails and says where
    result = money.verify()
    assert result["ok"] is False
    assert any(p["account"] == entry.account and p["sequence"] == 1 for p in result["problems"])


# ------------------------------------------------------------------------------- idempotency keys
def test_idempotency_keys_replay_refuse_resume_release_and_expire(aws: dict[str, str]) -> None:
    from gridshare.http.idempotency import (
        IN_PROGRESS_MS,
        TTL_MS,
        IdempotencyKeyReused,
        RequestIds,
        RequestInProgress,
        run_idempotent,
    )
    from gridshare.kernel import errors

    now = [1_767_225_600_000]
    ids_seen: list[str] = []

    def clock() -> int:
        return now[0]

    def create(ids: RequestIds) -> tuple[int, dict[str, Any]]:
        ids_seen.append(ids.new("thing"))
        return 201, {"data": {"id": ids_seen[-1]}}

    def run(key: str | None, body: Any, operation: Any = create) -> Any:
        return run_idempotent("user-1", "POST /v1/things", key, body, operation, clock=clock)

    # Given a request with a key: the same key and body replay the first response, once executed
    first = run("k1", {"a": 1})
    assert (first.status, first.replayed) == (201, False)
    assert [run("k1", {"a": 1}) for _ in range(3)] == [type(first)(201, first.body, True)] * 3
    assert len(ids_seen) == 1
    # Another body under the same key is refused (422), another user or route is another request
    with pytest.raises(IdempotencyKeyReused):
        run("k1", {"a": 2})
    assert run_idempotent("user-2", "POST /v1/things", "k1", {"a": 2}, create, clock=clock).replayed is False
    # Without a key, every request runs with fresh ids
    run(None, {"a": 1})
    run(None, {"a": 1})
    assert len(set(ids_seen)) == 4

    # A run with an unknown outcome (503) is resumed by its retry, with the same ids
    def unavailable(ids: RequestIds) -> tuple[int, dict[str, Any]]:
        ids_seen.append(ids.new("thing"))
        raise errors.Unavailable("down")

    with pytest.raises(errors.Unavailable):
        run("k2", {}, unavailable)
    resumed = run("k2", {})
    assert resumed.replayed is False and ids_seen[-1] == ids_seen[-2]

    # A refused run (4xx) releases its key: the client may fix the cause and send the key again
    def refused(ids: RequestIds) -> tuple[int, dict[str, Any]]:
        raise errors.Conflict("insufficient funds")

    with pytest.raises(errors.Conflict):
        run("k3", {"a": 1}, refused)
    assert run("k3", {"a": 2}).status == 201

    # A duplicate while the first run is still going is refused (409); after a minute the run is dead
    def nested(ids: RequestIds) -> tuple[int, dict[str, Any]]:
        with pytest.raises(RequestInProgress):
            run("k4", {})
        now[0] += IN_PROGRESS_MS + 1
        inner = run("k4", {})  # takes over the dead run, with the same ids
        return inner.status, {"data": {"inner": json.loads(inner.body)}}

    run("k4", {}, nested)
    assert ids_seen[-1] == RequestIds("user-1:POST /v1/things:k4", now[0] - IN_PROGRESS_MS - 1).new("thing")

    # After 24 h a key is forgotten, even before DynamoDB's TTL sweep deletes it
    now[0] += TTL_MS + 1000
    assert run("k1", {"a": 2}).replayed is False

    # A key must be printable ASCII of at most 255 characters
    for bad in ("", "x" * 256, "naïve", "tab\tkey"):
        with pytest.raises(errors.InvalidInput):
            run(bad, {})


# ---------------------------------------------------------------------------------- the gateway
def test_the_gateway_turns_stripe_errors_into_domain_errors(money: Money) -> None:
    from gridshare.wallets.stripe_gateway import (
        PaymentIdempotencyConflict,
        PaymentProviderUnavailable,
        PaymentRefused,
        StripeGateway,
        StripeSecret,
        stripe_gateway,
    )

    gateway = stripe_gateway()
    intent = gateway.create_payment_intent(500, "EUR", {"payment_id": "p-1"}, "key-1")
    assert (intent.amount, intent.currency, intent.status) == (500, "EUR", "requires_payment_method")
    # Stripe refuses the request as it stands (a refund of an unpaid intent): 422, nothing happened
    with pytest.raises(PaymentRefused):
        gateway.refund(intent.id, 100, "refund-1")
    # The same Stripe idempotency key with other parameters: 409
    with pytest.raises(PaymentIdempotencyConflict):
        gateway.create_payment_intent(600, "EUR", {"payment_id": "p-1"}, "key-1")
    # A transfer to a connected account goes through the SDK too
    transfer = gateway.transfer(100, "EUR", "acct_123", {"withdrawal_id": "w"}, "transfer-1")
    assert (transfer.kind, transfer.amount) == ("transfer", 100)
    # Stripe unreachable: 503, retry with the same key
    unreachable = StripeGateway(gateway.secret, "http://127.0.0.1:9", network_retries=0)
    with pytest.raises(PaymentProviderUnavailable):
        unreachable.payout(100, "EUR", {}, "payout-1")
    # A rejected API key is our misconfiguration: 503, never a 4xx blaming the caller
    boto3.client("secretsmanager").put_secret_value(
        SecretId=money.secret_arn, SecretString=json.dumps({"apiKey": "rk_wrong", "webhookSecrets": ["whsec_x"]})
    )
    with pytest.raises(PaymentProviderUnavailable):
        StripeGateway(StripeSecret(money.secret_arn), money.standin.url).payout(100, "EUR", {}, "payout-2")
    # A malformed or missing secret: 503 with no detail of the secret
    boto3.client("secretsmanager").put_secret_value(SecretId=money.secret_arn, SecretString="{not json")
    with pytest.raises(PaymentProviderUnavailable, match="malformed"):
        StripeSecret(money.secret_arn).get()
    with pytest.raises(PaymentProviderUnavailable, match="cannot be read"):
        StripeSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope").get()
    with pytest.raises(PaymentProviderUnavailable, match="not configured"):
        StripeSecret("").get()


def test_a_rejection_needs_no_body_at_all(money: Money) -> None:
    # Given a pending withdrawal, When an admin rejects it without a body, Then it is rejected
    nora = money.member("nora@example.com")
    money.topup(nora, 900)
    withdrawal = _data(money.call("POST", "/v1/wallet/withdrawals", nora, {"amount": 400}))
    response = money.call("POST", f"/v1/admin/withdrawals/{withdrawal['id']}/reject", money.admin)
    assert response.status_code == 200, response.body
    assert money.available(nora) == 900
