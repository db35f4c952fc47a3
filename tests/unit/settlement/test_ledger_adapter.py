"""The wallets adapter of settlement postings, on the ledger's reference model: a posting is one ledger
transaction; a charge the wallet cannot cover is booked to the user's receivable; retries post nothing
twice; a reversal undoes what the ledger holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.ledger import core as L
from gridshare.wallets.service import post_settlement

AT = 1_796_292_000_000
SHORTFALL = [("user:dave:wallet:EUR", "EUR", -29), ("grid:counterparty:EUR", "EUR", 29)]
META = {"kind": "shortfall", "interval": AT, "shortfallWh": 999}


def funded(amount: int) -> L.Ledger:
    ledger = L.Ledger()
    if amount:
        ledger.post(L.topup("topup:1", "dave", amount, "EUR", created_at=1))
    return ledger


def test_a_posting_is_one_settlement_transaction_under_its_id_and_a_retry_replays_it() -> None:
    ledger = funded(100)
    first = post_settlement("stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata=META, created_at=AT, ledger=ledger)
    assert (first.form, first.replayed, first.transaction.type) == ("wallet", False, "settlement")
    assert dict(first.transaction.metadata) == META
    again = post_settlement("stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata=META, created_at=AT + 5, ledger=ledger)
    assert again.replayed and ledger.balance("user:dave:wallet:EUR") == 71
    assert ledger.verify() == []


def test_a_charge_the_wallet_cannot_cover_goes_to_the_receivable_and_a_retry_finds_it() -> None:
    ledger = funded(10)
    posted = post_settlement("stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata=META, created_at=AT, ledger=ledger)
    assert posted.form == "receivable" and posted.transaction.metadata["receivable"] == "dave"
    assert ledger.balance("user:dave:wallet:EUR") == 10  # untouched
    assert ledger.balance("receivable:dave:EUR") == -29  # what dave owes
    assert ledger.balance("grid:counterparty:EUR") == 29
    # the wallet was topped up since: the retry still finds the receivable form and posts nothing
    ledger.post(L.topup("topup:2", "dave", 1_000, "EUR", created_at=2))
    retry = post_settlement("stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata=META, created_at=AT, ledger=ledger)
    assert retry.replayed and retry.form == "receivable"
    assert ledger.balance("user:dave:wallet:EUR") == 1_010 and ledger.verify() == []


def test_a_reversal_undoes_the_form_the_ledger_holds() -> None:
    ledger = funded(0)
    post_settlement("stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata=META, created_at=AT, ledger=ledger)
    undone = post_settlement(
        "stl:1:dave:shortfall:t1:r1:x",
        (),
        metadata={"kind": "reversal", "reversedKind": "shortfall"},
        created_at=AT + 1,
        ledger=ledger,
        reverses="stl:1:dave:shortfall:t1:r1",
    )
    assert undone.form == "wallet"
    assert ledger.balance("receivable:dave:EUR") == 0 and ledger.balance("grid:counterparty:EUR") == 0
    assert ledger.balance("user:dave:wallet:EUR") == 0 and ledger.verify() == []


def test_another_body_under_the_same_id_is_still_a_conflict() -> None:
    ledger = funded(100)
    post_settlement("stl:1:dave:shortfall:t1:r1", SHORTFALL, metadata=META, created_at=AT, ledger=ledger)
    other = [("user:dave:wallet:EUR", "EUR", -30), ("grid:counterparty:EUR", "EUR", 30)]
    with pytest.raises(L.DuplicateTransactionConflict):
        post_settlement("stl:1:dave:shortfall:t1:r1", other, metadata=META, created_at=AT, ledger=ledger)


def test_credits_or_escrow_that_cannot_cover_are_refused_not_booked_as_debt() -> None:
    ledger = funded(0)
    burn = [("user:dave:credits:KWH", "KWH", -5), ("grid:counterparty:KWH", "KWH", 5)]
    with pytest.raises(L.InsufficientFunds):
        post_settlement("stl:1:dave:burn:s1:r1", burn, metadata={"kind": "burn"}, created_at=AT, ledger=ledger)
    assert ledger.transaction("stl:1:dave:burn:s1:r1") is None


@given(
    st.lists(st.tuples(st.sampled_from(["ann", "ben"]), st.integers(1, 50)), min_size=1, max_size=12),
    st.integers(0, 120),
    st.integers(0, 3),
)
def test_charges_post_once_each_whatever_the_wallets_hold_and_the_ledger_verifies(
    charges: list[tuple[str, int]], funds: int, retries: int
) -> None:
    # Given wallets with some money and a run of charges (each retried a few times)
    ledger = L.Ledger()
    for user in ("ann", "ben"):
        if funds:
            ledger.post(L.topup(f"topup:{user}", user, funds, "EUR", created_at=1))
    for n, (user, amount) in enumerate(charges):
        legs = [(f"user:{user}:wallet:EUR", "EUR", -amount), ("grid:counterparty:EUR", "EUR", amount)]
        for _ in range(1 + retries):
            post_settlement(f"stl:1:{user}:imbalance:t{n}:r1", legs, metadata={"n": n}, created_at=AT, ledger=ledger)
    # Then each charge is one transaction, wallet + receivable pay it all, no wallet is negative, verify is clean
    assert len([t for t in ledger.transactions() if t.type == "settlement"]) == len(charges)
    for user in ("ann", "ben"):
        owed = sum(a for u, a in charges if u == user)
        wallet, debt = ledger.balance(f"user:{user}:wallet:EUR"), ledger.balance(f"receivable:{user}:EUR")
        assert wallet >= 0 and debt <= 0 and (funds - wallet) - debt == owed
    assert ledger.balance("grid:counterparty:EUR") == sum(a for _, a in charges)
    assert ledger.verify() == []
