"""The DynamoDB ledger store against moto: same semantics as the in-memory Ledger, under faults too.

Fault injection uses botocore events on the store's own client. Under ``mock_aws`` botocore emits
``before-send`` to every handler and takes the first response: our handler (registered on the specific
event name) runs first, then moto's stubber. So:

- raising in our handler (``EndpointConnectionError``) stops the request before moto sees it: NOT applied;
  the SDK's retry sends it again;
- returning an error response lets moto apply the request anyway, and the caller sees our error: APPLIED,
  RESPONSE LOST (a 500: the SDK retries and finds the transaction; or, through ``after-call``, an error the
  caller sees, who retries with the same id);
- throttling must not be applied, so the handler also switches moto's stubber off for that one request
  (a ``register_last`` handler on ``before-send`` switches it back on after moto's turn).

Every faulted run must end with the same balances, sequences and head hashes as the fault-free run.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from moto.core.models import botocore_stubber

from gridshare.kernel import aws
from gridshare.ledger import core as L
from gridshare.ledger.core import (
    DuplicateTransactionConflict,
    InsufficientFunds,
    Ledger,
    Transaction,
)
from gridshare.ledger.models import TABLES as LEDGER_MODELS
from gridshare.ledger.models import LedgerAccountModel, LedgerEntryModel, entry_pk
from gridshare.ledger.store import LedgerBusy, LedgerStore, LedgerUnavailable

T0 = 1_767_225_600_000
USERS = ("alice", "bob", "carol", "dave")
SITES: dict[str, dict[str, int]] = {"site-1": {"carol": 3, "dave": 1}, "site-2": {}}


def _reset() -> None:
    aws.reset_clients()
    for model in LEDGER_MODELS:
        model._connection = None  # PynamoDB caches a botocore client per model


def _create_tables() -> None:
    for model in LEDGER_MODELS:
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)


def _drop_tables() -> None:
    for model in LEDGER_MODELS:
        model.delete_table()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[LedgerStore]:
    # The SDK's backoff (up to seconds for throttling) would only slow the tests: retries stay, waits go.
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    with mock_aws():
        _reset()
        _create_tables()
        yield LedgerStore()
    _reset()


@pytest.fixture
def fast_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's TransactWriteItems with the local stack's patch (snapshot the touched items, not whole tables).

    Stock moto deep-copies every table a transaction touches, so a long history costs O(n^2): the long
    random runs below use the engine the local stack runs on, with the patch undone after the test. The
    examples above run on stock moto.
    """
    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models import DynamoDBBackend

    from gridshare_local import moto_patches

    monkeypatch.setattr(ddb_models, "copy", ddb_models.copy)
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items)
    monkeypatch.setattr(moto_patches, "_installed", False)
    moto_patches.install_fast_transactions()


def snapshot(store: LedgerStore) -> dict[tuple[str, str], L.AccountHead]:
    """(account, asset) -> head (sequence, hash, balance), from the accounts table."""
    return {key: store.head(*key) for key in store.balances()}


def reference(ledger: Ledger) -> dict[tuple[str, str], L.AccountHead]:
    return {key: ledger.head(*key) for key in ledger.balances()}


# --------------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------------


def test_post_replay_conflict(store: LedgerStore) -> None:
    tx = L.topup("t1", "alice", 1000, "EUR", payment_ref="pi_1", created_at=T0)
    first = store.post(tx)
    assert first.replayed is False and first.transaction is tx
    again = store.post(dataclasses.replace(tx, created_at=T0 + 60_000))
    assert again.replayed is True
    assert again.transaction == tx and again.transaction.created_at == T0  # the first result, as stored
    with pytest.raises(DuplicateTransactionConflict):
        store.post(L.topup("t1", "alice", 999, "EUR", payment_ref="pi_1", created_at=T0))
    assert store.balance("user:alice:wallet:EUR") == 1000
    assert store.balance("stripe:clearing:EUR") == -1000
    assert store.transaction("t1") == tx and store.transaction("nope") is None
    assert store.verify() == []


def test_insufficient_funds_writes_nothing_and_keeps_the_id_free(store: LedgerStore) -> None:
    store.post(L.topup("t1", "alice", 100, "EUR", created_at=T0))
    with pytest.raises(InsufficientFunds) as info:
        store.post(L.transfer("x1", "alice", "bob", 101, "EUR", created_at=T0))
    assert (info.value.account, info.value.balance, info.value.needed) == ("user:alice:wallet:EUR", 100, 101)
    assert store.transaction("x1") is None
    assert store.entries("user:bob:wallet:EUR") == [] and store.head("user:alice:wallet:EUR").sequence == 1
    store.post(L.topup("t2", "alice", 1, "EUR", created_at=T0))
    assert store.post(L.transfer("x1", "alice", "bob", 101, "EUR", created_at=T0)).replayed is False
    assert store.balance("user:alice:wallet:EUR") == 0 and store.balance("user:bob:wallet:EUR") == 101


def test_replay_is_recognised_when_no_longer_affordable(store: LedgerStore) -> None:
    store.post(L.topup("t1", "alice", 100, "EUR", created_at=T0))
    request = L.withdrawal_request("w1", "alice", 100, "EUR", created_at=T0)
    store.post(request)
    assert store.post(request).replayed is True
    with pytest.raises(DuplicateTransactionConflict):
        store.post(L.withdrawal_request("w1", "alice", 50, "EUR", created_at=T0))


def test_the_balance_condition_is_enforced_by_dynamodb_too(store: LedgerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even if our funds pre-check were skipped, the conditional update refuses the overdraft.

    (Without the pre-check the store cannot tell an overdraft from a moved head, so it retries and gives
    up: what matters here is that DynamoDB never applied it.)"""
    store.post(L.topup("t1", "alice", 100, "EUR", created_at=T0))
    monkeypatch.setattr("gridshare.ledger.store.check_funds", lambda tx, heads: None)
    with pytest.raises(LedgerBusy):
        store.post(L.transfer("x1", "alice", "bob", 101, "EUR", created_at=T0))
    assert store.balance("user:alice:wallet:EUR") == 100 and store.transaction("x1") is None


def test_entries_on_one_account_are_merged_into_one_update(store: LedgerStore) -> None:
    store.post(L.topup("t1", "inv", 10_000, "EUR", created_at=T0))
    sale = L.sale_transaction(
        "s1",
        buyer_id="inv",
        host_id="host",
        site_id="site-1",
        gross=1_000,
        currency="EUR",
        investor_shares={"inv": 1},
        created_at=T0,
    )
    store.post(sale)
    chain = store.entries("user:inv:wallet:EUR")
    assert [(e.sequence, e.amount, e.balance_after) for e in chain] == [
        (1, 10_000, 10_000),
        (2, -1_000, 9_000),
        (3, 350, 9_350),
    ]
    assert store.head("user:inv:wallet:EUR") == L.AccountHead(3, chain[-1].hash, 9_350)
    assert store.verify() == []


def test_the_largest_transaction_fits_one_transact_write(store: LedgerStore) -> None:
    investors = {f"inv-{i:02d}": i + 1 for i in range(L.MAX_ENTRIES - 3)}
    store.post(L.topup("t1", "buyer", 10**9, "EUR", created_at=T0))
    sale = L.sale_transaction(
        "big",
        buyer_id="buyer",
        host_id="host",
        site_id="s",
        gross=10**8,
        currency="EUR",
        investor_shares=investors,
        created_at=T0,
    )
    assert len(sale.entries) == L.MAX_ENTRIES
    assert len(store._actions(sale, sale.body_hash(), store._read_heads(list(L.net_by_account(sale))))) == 99
    store.post(sale)
    assert sum(store.balance(f"user:{i}:wallet:EUR") for i in investors) == 35 * 10**6
    assert store.verify() == []


def test_a_concurrent_post_makes_the_slower_one_reread_and_retry(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between our read of the heads and our write, another post extends alice's chain: our seq condition
    fails, we re-read and post on top of it. The result equals posting the two one after the other."""
    setup = [L.topup("t1", "alice", 1_000, "EUR", created_at=T0)]
    competitor = L.transfer("other", "alice", "carol", 300, "EUR", created_at=T0)
    ours = L.transfer("ours", "alice", "bob", 200, "EUR", created_at=T0)
    for tx in setup:
        store.post(tx)
    reads = Counter[str]()
    original = store._read_heads

    def racing_read(keys: list[tuple[str, str]]) -> dict[tuple[str, str], L.AccountHead]:
        heads = original(keys)
        reads["ours"] += 1
        if reads["ours"] == 1:
            LedgerStore().post(competitor)  # lands after our read, before our write
        return heads

    monkeypatch.setattr(store, "_read_heads", racing_read)
    assert store.post(ours).replayed is False
    assert reads["ours"] == 2  # one retry
    expected = Ledger()
    for tx in [*setup, competitor, ours]:
        expected.post(tx)
    assert snapshot(store) == reference(expected)
    assert [e.transaction_id for e in store.entries("user:alice:wallet:EUR")] == ["t1", "other", "ours"]
    assert store.verify() == []


def test_a_concurrent_post_that_empties_the_wallet_turns_the_retry_into_insufficient_funds(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.post(L.topup("t1", "alice", 1_000, "EUR", created_at=T0))
    original = store._read_heads
    raced: list[bool] = []

    def racing_read(keys: list[tuple[str, str]]) -> dict[tuple[str, str], L.AccountHead]:
        heads = original(keys)
        if not raced:
            raced.append(True)
            LedgerStore().post(L.withdrawal_request("w", "alice", 900, "EUR", created_at=T0))
        return heads

    monkeypatch.setattr(store, "_read_heads", racing_read)
    with pytest.raises(InsufficientFunds):
        store.post(L.transfer("ours", "alice", "bob", 200, "EUR", created_at=T0))
    assert store.balance("user:alice:wallet:EUR") == 100 and store.transaction("ours") is None


def test_endless_contention_gives_up_with_nothing_posted(store: LedgerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.post(L.topup("t1", "alice", 10_000, "EUR", created_at=T0))
    original = store._read_heads
    counter = iter(range(100))

    def always_racing(keys: list[tuple[str, str]]) -> dict[tuple[str, str], L.AccountHead]:
        heads = original(keys)
        LedgerStore().post(L.transfer(f"other-{next(counter)}", "alice", "carol", 1, "EUR", created_at=T0))
        return heads

    monkeypatch.setattr(store, "_read_heads", always_racing)
    with pytest.raises(LedgerBusy):
        store.post(L.transfer("ours", "alice", "bob", 1, "EUR", created_at=T0))
    monkeypatch.undo()  # or verify's own reads would race it too
    assert store.transaction("ours") is None and store.balance("user:bob:wallet:EUR") == 0
    assert store.verify() == []


def test_verify_detects_edits(store: LedgerStore) -> None:
    for tx in [
        L.topup("t1", "alice", 1_000, "EUR", created_at=T0),
        L.transfer("x1", "alice", "bob", 300, "EUR", created_at=T0),
        L.transfer("x2", "alice", "bob", 200, "EUR", created_at=T0),
    ]:
        store.post(tx)
    assert store.verify_account("user:alice:wallet:EUR") == [] and store.verify() == []
    ddb = aws.client("dynamodb")
    key = {"pk": {"S": entry_pk("user:alice:wallet:EUR", "EUR")}, "seq": {"N": "2"}}
    ddb.update_item(
        TableName=LedgerEntryModel.Meta.table_name,
        Key=key,
        UpdateExpression="SET amount = :a",
        ExpressionAttributeValues={":a": {"N": "-30"}},
    )
    problems = [str(p) for p in store.verify_account("user:alice:wallet:EUR")]
    assert any("hash does not match" in p for p in problems), problems
    assert any("transaction x1" in str(p) for p in store.verify())
    # Restore the entry, then edit the account's balance instead.
    ddb.update_item(
        TableName=LedgerEntryModel.Meta.table_name,
        Key=key,
        UpdateExpression="SET amount = :a",
        ExpressionAttributeValues={":a": {"N": "-300"}},
    )
    assert store.verify() == []
    ddb.update_item(
        TableName=LedgerAccountModel.Meta.table_name,
        Key={"account": {"S": "user:bob:wallet:EUR"}, "asset": {"S": "EUR"}},
        UpdateExpression="SET balance = :b",
        ExpressionAttributeValues={":b": {"N": "5000"}},
    )
    assert any("entries sum to 500" in str(p) for p in store.verify_account("user:bob:wallet:EUR"))
    # A deleted entry breaks the chain.
    ddb.delete_item(TableName=LedgerEntryModel.Meta.table_name, Key=key)
    assert any("sequence" in str(p) for p in store.verify_account("user:alice:wallet:EUR"))


# --------------------------------------------------------------------------------------------------
# Random sequences: the store against the in-memory reference
# --------------------------------------------------------------------------------------------------

Op = tuple[Transaction, str]  # the transaction, and what the reference ledger answered


def outcome_of(post: Any, tx: Transaction) -> str:
    try:
        return "replayed" if post(tx).replayed else "posted"
    except InsufficientFunds:
        return "insufficient"
    except DuplicateTransactionConflict:
        return "conflict"


def generate_ops(seed: int, n: int) -> tuple[list[Op], Ledger]:
    """A random history of money movements, replays and conflicts, with the in-memory Ledger's answers."""
    rng = random.Random(seed)
    ledger = Ledger()
    ops: list[Op] = []
    posted: list[Transaction] = []
    topups: dict[str, int] = {}  # top-up id -> refunded so far
    topups_posted: dict[str, Transaction] = {}
    open_requests: list[Transaction] = []
    reversed_ids: set[str] = set()
    now = T0

    def submit(tx: Transaction) -> bool:
        outcome = outcome_of(ledger.post, tx)
        ops.append((tx, outcome))
        if outcome == "posted":
            posted.append(tx)
        return outcome == "posted"

    def refundable() -> list[str]:
        return sorted(t for t, done in topups.items() if done < -topups_posted[t].amount_on("stripe:clearing:EUR"))

    def portion(account: str) -> int:
        return max(1, ledger.balance(account) * rng.randint(1, 125) // 100)

    for user in USERS:
        seed_topup = L.topup(f"seed-{user}", user, rng.randint(5_000, 50_000), "EUR", created_at=now)
        submit(seed_topup)
        topups[seed_topup.id], topups_posted[seed_topup.id] = 0, seed_topup
        submit(L.energy_credit(f"seed-kwh-{user}", user, rng.randint(1_000, 9_000), created_at=now))
    for i in range(n):
        now += 60_000
        tx_id = f"op-{seed}-{i:04d}"
        kind = rng.choice(
            [
                "topup",
                "transfer",
                "transfer",
                "sale",
                "sale",
                "withdraw",
                "decide",
                "refund",
                "reverse",
                "replay",
                "conflict",
            ]
        )
        a, b = rng.sample(USERS, 2)
        if kind == "topup":
            topup = L.topup(tx_id, a, rng.randint(1, 20_000), "EUR", created_at=now)
            if submit(topup):
                topups[tx_id], topups_posted[tx_id] = 0, topup
        elif kind == "transfer":
            asset = rng.choice(["EUR", "KWH"])
            submit(L.transfer(tx_id, a, b, portion(L.user_account(a, asset)), asset, created_at=now))
        elif kind == "sale":
            site = rng.choice(sorted(SITES))
            energy = portion(L.user_credits(b)) if rng.random() < 0.5 else None
            submit(
                L.sale_transaction(
                    tx_id,
                    buyer_id=a,
                    host_id=b,
                    site_id=site,
                    gross=portion(L.user_wallet(a, "EUR")),
                    currency="EUR",
                    investor_shares=SITES[site],
                    no_investors="pool",
                    energy_wh=energy,
                    created_at=now,
                )
            )
        elif kind == "withdraw":
            request = L.withdrawal_request(tx_id, a, portion(L.user_wallet(a, "EUR")), "EUR", created_at=now)
            if submit(request):
                open_requests.append(request)
        elif kind == "decide" and open_requests:
            request = open_requests.pop(rng.randrange(len(open_requests)))
            build = L.withdrawal_approve if rng.random() < 0.5 else L.withdrawal_reject
            if not submit(build(tx_id, request, created_at=now)):
                open_requests.append(request)
        elif kind == "refund" and refundable():
            original = topups_posted[rng.choice(refundable())]
            remaining = -original.amount_on("stripe:clearing:EUR") - topups[original.id]
            amount = rng.choice([None, rng.randint(1, remaining)])
            if submit(L.refund(tx_id, original, topups[original.id], amount, created_at=now)):
                topups[original.id] += remaining if amount is None else amount
        elif kind == "reverse" and posted:
            original = rng.choice([tx for tx in posted if tx.id not in reversed_ids] or posted)
            if original.id not in reversed_ids and submit(L.reversal(tx_id, original, created_at=now)):
                reversed_ids.add(original.id)
                if original in open_requests:
                    open_requests.remove(original)
        elif kind == "replay" and ops:
            earlier = rng.choice(ops)[0]
            submit(dataclasses.replace(earlier, created_at=earlier.created_at + 1))
        elif kind == "conflict" and posted:
            earlier = rng.choice(posted)
            submit(dataclasses.replace(earlier, metadata={**earlier.metadata, "note": "different"}))
    return ops, ledger


def run_ops(store: LedgerStore, ops: list[Op], injector: FaultInjector | None = None) -> list[str]:
    """Post every op like a careful caller: on LedgerUnavailable, retry with the same transaction."""
    outcomes = []
    for index, (tx, _) in enumerate(ops):
        if injector:
            injector.arm(index)
        for _attempt in range(4):
            try:
                outcomes.append(outcome_of(store.post, tx))
                break
            except LedgerUnavailable:
                continue
        else:
            pytest.fail(f"{tx.id} never confirmed")
    return outcomes


def test_random_history_matches_the_in_memory_ledger(fast_moto: None, store: LedgerStore) -> None:
    ops, ledger = generate_ops(seed=11, n=150)
    outcomes = Counter(expected for _, expected in ops)
    assert outcomes["posted"] > 80 and outcomes["insufficient"] > 5
    assert outcomes["replayed"] > 3 and outcomes["conflict"] > 3
    assert run_ops(store, ops) == [expected for _, expected in ops]
    assert snapshot(store) == reference(ledger)  # balances, sequences and head hashes: the same chains
    assert ledger.verify() == [] and store.verify() == []


# --------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------

MAX_SDK_ATTEMPTS = 5  # gridshare.kernel.aws._CONFIG


class _Body:
    """Just enough of a urllib3 response for botocore to read an error body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def error_response(url: str, status: int, code: str) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}).encode()
    return AWSResponse(url, status, {"x-amzn-errortype": code}, _Body(body))  # type: ignore[arg-type]


class FaultInjector:
    """Faults on the store's TransactWriteItems calls, planned per op index.

    - ``connection``: EndpointConnectionError before the first attempt (not applied; the SDK retries);
    - ``lost``: the first attempt is applied, its response replaced by a 500 (the SDK retries);
    - ``lost_caller``: the first attempt is applied, the caller gets an error (the caller retries);
    - ``throttle``: the first two attempts throttled, not applied (the SDK retries);
    - ``throttle_exhausted``: every SDK attempt throttled (the caller sees LedgerUnavailable, retries).
    """

    KINDS = ("connection", "lost", "lost_caller", "throttle", "throttle_exhausted")

    def __init__(self, plan: dict[int, str]) -> None:
        self.plan = plan
        self.kind: str | None = None
        self.calls = 0
        self.injected = Counter[str]()
        events = aws.client("dynamodb").meta.events
        events.register("before-send.dynamodb.TransactWriteItems", self.before_send, unique_id="ledger-faults")
        events.register_last("before-send", self.moto_back_on, unique_id="ledger-faults-moto")
        events.register("after-call.dynamodb.TransactWriteItems", self.after_call, unique_id="ledger-faults-after")

    def arm(self, index: int) -> None:
        self.kind, self.calls = self.plan.get(index), 0

    def before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.kind is None:
            return None
        self.calls += 1
        kind, first = self.kind, self.calls == 1
        if kind == "connection" and first:
            self.injected[kind] += 1
            raise EndpointConnectionError(endpoint_url=request.url)
        if kind == "lost" and first:
            self.injected[kind] += 1
            return error_response(request.url, 500, "InternalServerError")  # moto applies it regardless
        throttled = {"throttle": 2, "throttle_exhausted": MAX_SDK_ATTEMPTS}.get(kind, 0)
        if self.calls <= throttled:
            self.injected[kind] += first
            botocore_stubber.enabled = False  # not applied: moto skips this one request
            return error_response(request.url, 400, "ThrottlingException")
        return None

    def moto_back_on(self, **_: Any) -> None:
        botocore_stubber.enabled = True

    def after_call(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if self.kind == "lost_caller" and self.calls == 1:
            self.injected[self.kind] += 1
            http_response.status_code = 500
            parsed["Error"] = {"Code": "InternalServerError", "Message": "injected after the write"}


def check_faulted_run(store: LedgerStore, ops: list[Op], plan: dict[int, str], fault_free: Any) -> FaultInjector:
    injector = FaultInjector(plan)
    outcomes = run_ops(store, ops, injector)
    for index, ((tx, expected), got) in enumerate(zip(ops, outcomes, strict=True)):
        if expected == "posted" and plan.get(index) in ("lost", "lost_caller"):
            assert got == "replayed", tx.id  # applied once; the retry found it
        else:
            assert got == expected, (tx.id, plan.get(index))
    assert snapshot(store) == fault_free
    assert store.verify() == []
    return injector


@pytest.mark.parametrize("kind", FaultInjector.KINDS)
def test_each_fault_leaves_the_ledger_as_the_fault_free_run(fast_moto: None, store: LedgerStore, kind: str) -> None:
    ops, ledger = generate_ops(seed=23, n=40)
    rng = random.Random(kind)
    plan = {i: kind for i, (_, expected) in enumerate(ops) if expected != "insufficient" and rng.random() < 0.5}
    injector = check_faulted_run(store, ops, plan, reference(ledger))
    assert injector.injected[kind] >= 10


@pytest.mark.heavy
def test_mixed_faults_equal_the_fault_free_store_run(fast_moto: None, store: LedgerStore) -> None:
    ops, ledger = generate_ops(seed=42, n=100)
    assert run_ops(store, ops) == [expected for _, expected in ops]
    fault_free = snapshot(store)
    assert fault_free == reference(ledger)
    _drop_tables()
    _create_tables()
    assert snapshot(store) == {}
    rng = random.Random(42)
    plan = {i: rng.choice(FaultInjector.KINDS) for i in range(len(ops)) if rng.random() < 0.35}
    injector = check_faulted_run(store, ops, plan, fault_free)
    assert set(injector.injected) == set(FaultInjector.KINDS), injector.injected
