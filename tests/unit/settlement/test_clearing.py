"""A shard's grid and platform legs on its clearing accounts, swept once per account (decision 0028), on the
ledger's reference model: the end state equals posting on the shared accounts, every clearing account ends
at 0, reversals of an earlier run's postings clear on the current shard, retries sweep once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.ledger import core as L
from gridshare.settlement.postings import Posting, diff
from gridshare.settlement.rules import IntervalInput, settle, trade_money
from gridshare.settlement.run import clearing_owner, shard_clearing_accounts
from gridshare.wallets.service import post_settlement, sweep_clearing
from gridshare.wallets.settlements import sweep_id

from .strategies import AT, USERS, intervals

FAST = settings(max_examples=40, deadline=None)
SHORTFALL = [("user:dave:wallet:EUR", "EUR", -29), ("grid:counterparty:EUR", "EUR", 29)]
SALE = [
    ("user:dave:wallet:EUR", "EUR", -10),
    ("user:bob:wallet:EUR", "EUR", 8),
    ("platform:revenue:EUR", "EUR", 2),
    ("grid:counterparty:KWH", "KWH", -700),
    ("user:dave:credits:KWH", "KWH", 700),
]


def funded(inp: IntervalInput) -> L.Ledger:
    """Users' wallets funded, each buyer's escrow holding what clearing left for its trades."""
    ledger = L.Ledger()
    held: dict[str, int] = defaultdict(int)
    for t in inp.trades:
        held[t.buyer_id] += sum(trade_money(t.energy_wh, t.price_minor_per_kwh, t.grid_fee_minor_per_kwh))
    for n, user in enumerate(USERS):
        ledger.post(L.topup(f"fund-{n}", user, 10**7, "EUR", created_at=1))
    for n, (user, amount) in enumerate(sorted(held.items())):
        if amount:
            ledger.post(L.reservation(f"hold-{n}", user, amount, "EUR", order_id=f"o{n}", created_at=1))
    return ledger


def post(ledger: L.Ledger, postings: list[Posting], clearing: str | None) -> None:
    for p in postings:
        meta = {**p.metadata, "kind": p.kind}
        post_settlement(
            p.id, p.entries, metadata=meta, created_at=AT, ledger=ledger, reverses=p.reverses, clearing=clearing
        )
    if clearing is not None:
        for account in sorted(shard_clearing_accounts(clearing, "EUR")):
            sweep_clearing(account, ledger=ledger, created_at=AT)


def shared_balances(ledger: L.Ledger) -> dict[tuple[str, str], int]:
    out = {}
    for (account, asset), balance in ledger.balances().items():
        if L.parse_account(account).kind in L.CLEARING_KINDS:
            assert balance == 0, account
        elif balance:
            out[(account, asset)] = balance
    return out


@FAST
@given(intervals(), st.integers(0, 10_000))
def test_a_run_its_correction_and_back_on_clearing_accounts_end_as_on_the_shared_accounts(
    inp: IntervalInput, export_wh: int
) -> None:
    """Three runs (first readings, a correction, back), each on its own shard's clearing accounts, swept at
    the end of each: every clearing account is at 0, every other account as when posting on the shared
    accounts directly, every asset sums to zero and ``verify()`` is clean."""
    cleared, direct = funded(inp), funded(inp)
    first = list(settle(inp).postings)
    fixed = replace(inp, sites=(replace(inp.sites[0], export_wh=export_wh), *inp.sites[1:]))
    correction = diff(first, list(settle(fixed).postings))
    back = diff(first + correction, first)
    for n, (run, postings) in enumerate((("run-a", first), ("run-b", correction), ("run-c", back))):
        post(cleared, postings, clearing_owner(run, n))
        post(direct, postings, None)
    assert shared_balances(cleared) == shared_balances(direct)
    totals: dict[str, int] = defaultdict(int)
    for (_account, asset), balance in cleared.balances().items():
        totals[asset] += balance
    assert not any(totals.values())
    assert cleared.verify() == []
    touched = {e.account for t in cleared.transactions() if t.id.startswith("stl:") for e in t.entries}
    assert "grid:counterparty:KWH" not in touched and "platform:revenue:EUR" not in touched


def test_grid_and_platform_legs_go_to_the_shards_clearing_accounts_and_one_sweep_each_moves_them() -> None:
    ledger = L.Ledger()
    ledger.post(L.topup("topup:1", "dave", 100, "EUR", created_at=1))
    owner = clearing_owner("stl-1-2", 4)
    posted = post_settlement(
        "stl:1:dave:shortfall:t1:r1",
        SHORTFALL,
        metadata={"kind": "shortfall"},
        created_at=AT,
        ledger=ledger,
        clearing=owner,
    )
    assert posted.clearing == {"clearing:stl-1-2.4:grid:EUR"}
    assert ledger.balance("clearing:stl-1-2.4:grid:EUR") == 29 and ledger.balance("grid:counterparty:EUR") == 0
    swept = sweep_clearing("clearing:stl-1-2.4:grid:EUR", ledger=ledger, created_at=AT)
    assert swept is not None and swept.id == "sweep:stl-1-2.4:grid:EUR:s1" and swept.metadata["kind"] == "sweep"
    assert ledger.balance("clearing:stl-1-2.4:grid:EUR") == 0 and ledger.balance("grid:counterparty:EUR") == 29
    # a retried shard: the account is at 0, nothing more is swept
    assert sweep_clearing("clearing:stl-1-2.4:grid:EUR", ledger=ledger, created_at=AT + 1) is None
    assert sweep_clearing("clearing:stl-1-2.4:platform:EUR", ledger=ledger, created_at=AT) is None
    assert ledger.verify() == []


def test_a_shard_that_posts_after_its_sweep_sweeps_the_rest_under_the_next_id() -> None:
    ledger = L.Ledger()
    ledger.post(L.topup("topup:1", "dave", 100, "EUR", created_at=1))
    account = "clearing:r.0:grid:EUR"
    post_settlement("stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata={}, created_at=AT, ledger=ledger, clearing="r.0")
    assert sweep_clearing(account, ledger=ledger, created_at=AT) is not None
    other = [("user:dave:wallet:EUR", "EUR", -5), ("grid:counterparty:EUR", "EUR", 5)]
    post_settlement("stl:1:dave:imbalance:t1:r1", other, metadata={}, created_at=AT, ledger=ledger, clearing="r.0")
    again = sweep_clearing(account, ledger=ledger, created_at=AT)
    assert again is not None and again.id == sweep_id(account, 2) and again.entries[1].amount == 5
    assert ledger.balance("grid:counterparty:EUR") == 34 and ledger.verify() == []


def test_a_reversal_of_an_earlier_runs_posting_clears_on_the_current_shard() -> None:
    ledger = L.Ledger()
    ledger.post(L.topup("topup:1", "dave", 100, "EUR", created_at=1))
    original = post_settlement(
        "stl:1:dave:community:a.b:r1", SALE, metadata={}, created_at=AT, ledger=ledger, clearing="run-a.0"
    )
    for account in sorted(original.clearing):
        sweep_clearing(account, ledger=ledger, created_at=AT)
    undo = post_settlement(
        "stl:1:dave:community:a.b:r1:x",
        [],
        metadata={},
        created_at=AT,
        ledger=ledger,
        reverses=original.transaction.id,
        clearing="run-b.7",
    )
    assert undo.clearing == {"clearing:run-b.7:grid:KWH", "clearing:run-b.7:platform:EUR"}
    assert ledger.balance("clearing:run-b.7:platform:EUR") == -2  # until the current shard's sweep
    for account in sorted(undo.clearing):
        sweep_clearing(account, ledger=ledger, created_at=AT)
    assert ledger.balance("platform:revenue:EUR") == 0 and ledger.balance("grid:counterparty:KWH") == 0
    assert all(b == 0 for (a, _), b in ledger.balances().items() if a.startswith("clearing:"))
    assert ledger.verify() == []


def test_a_posting_stored_by_another_run_is_replayed_and_its_clearing_reported() -> None:
    """A run posted it and stopped before recording it; a later run posts the same id and body on its own
    shard: the stored transaction is taken as done, and its clearing accounts are reported for a sweep."""
    ledger = L.Ledger()
    ledger.post(L.topup("topup:1", "dave", 100, "EUR", created_at=1))
    post_settlement(
        "stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata={}, created_at=AT, ledger=ledger, clearing="run-a.0"
    )
    again = post_settlement(
        "stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata={}, created_at=AT, ledger=ledger, clearing="run-b.2"
    )
    assert again.replayed and again.clearing == {"clearing:run-a.0:grid:EUR"}
    assert ledger.balance("user:dave:wallet:EUR") == 71
    other = [("user:dave:wallet:EUR", "EUR", -30), ("grid:counterparty:EUR", "EUR", 30)]
    with pytest.raises(L.DuplicateTransactionConflict):
        post_settlement(
            "stl:1:dave:shortfall:t1:r1", other, metadata={}, created_at=AT, ledger=ledger, clearing="run-b.2"
        )


def test_clearing_accounts_parse_and_may_go_negative() -> None:
    assert L.parse_account("clearing:stl-1-2.0:grid:KWH") == L.AccountRef("grid_clearing", "stl-1-2.0", "KWH")
    assert L.parse_account("clearing:01ABC.12:platform:EUR") == L.AccountRef("platform_clearing", "01ABC.12", "EUR")
    assert L.may_go_negative("clearing:r.0:platform:EUR") and L.may_go_negative("clearing:r.0:grid:EUR")
    with pytest.raises(L.InvalidTransaction):
        L.parse_account("clearing:r.0:platform:KWH")
    with pytest.raises(L.InvalidTransaction):
        L.clearing_account("r.0", "market", "EUR")
