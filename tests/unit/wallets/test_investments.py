"""Investments and their returns (gridshare.wallets.investments) on the in-memory reference ledger."""

from __future__ import annotations

import pytest

from gridshare.ledger import core as L
from gridshare.wallets.investments import record_investment, returns_of, site_returns
from gridshare.wallets.movements import InsufficientBalance


def test_an_investment_posts_once_per_id_and_needs_funds() -> None:
    ledger = L.Ledger()
    ledger.post(L.topup("t1", "ann", 1_000, "EUR"))
    first = record_investment("inv1", investor_id="ann", site_id="s1", amount=700, currency="eur", ledger=ledger)
    again = record_investment("inv1", investor_id="ann", site_id="s1", amount=700, currency="EUR", ledger=ledger)
    assert (first.replayed, again.replayed) == (False, True)
    assert first.transaction.id == "investment:inv1"
    assert ledger.balance(L.user_wallet("ann", "EUR")) == 300
    with pytest.raises(InsufficientBalance) as refused:
        record_investment("inv2", investor_id="ann", site_id="s1", amount=301, currency="EUR", ledger=ledger)
    assert [e.field for e in refused.value.errors] == ["amount"]


def test_returns_are_the_investor_parts_of_the_sites_sales_and_pool_payouts() -> None:
    ledger = L.Ledger()
    ledger.post(L.topup("t1", "buyer", 10_000, "EUR"))
    # ann is an investor of s1 and also the host of s2 (her host part there is not a return)
    ledger.post(
        L.sale_transaction(
            "sale1", buyer_id="buyer", host_id="hal", site_id="s1", gross=1_000, currency="EUR",
            investor_shares={"ann": 1, "bob": 1},
        )
    )  # fmt: skip
    ledger.post(
        L.sale_transaction(
            "sale2", buyer_id="buyer", host_id="ann", site_id="s2", gross=1_000, currency="EUR",
            investor_shares={"ann": 1},
        )
    )  # fmt: skip
    ledger.post(
        L.sale_transaction(
            "sale3", buyer_id="buyer", host_id="hal", site_id="s3", gross=1_000, currency="EUR",
            investor_shares={}, no_investors="pool",
        )
    )  # fmt: skip
    ledger.post(L.pool_payout("pool1", "s3", "EUR", 350, {"ann": 1}))
    assert site_returns("ann", ["EUR"], ledger=ledger) == {"s1": {"EUR": 175}, "s2": {"EUR": 350}, "s3": {"EUR": 350}}
    assert returns_of("bob", ledger.transactions()) == {"s1": {"EUR": 175}}
    assert site_returns("nobody", ["EUR"], ledger=ledger) == {}
