"""Admin reports over the whole ledger: volumes, fees, balances held, pending withdrawals; verification.

Full scans (every transaction, every account, every chain): admin reports, never a user's request path.
A volume is what a transaction moved (the sum of its credits per asset); fees earned are the net credits
to platform revenue; both within the requested window. Balances and pending withdrawals are as they
stand now, whatever the window.
"""

from __future__ import annotations

from typing import Any

from gridshare.kernel.clock import to_iso
from gridshare.kernel.deadline import request_deadline
from gridshare.ledger import core as L
from gridshare.wallets.movements import WalletUseCases
from gridshare.wallets.withdrawals import pending_withdrawals

__all__ = ["Reports"]


class Reports(WalletUseCases):
    def metrics(self, start: int | None, end: int | None) -> dict[str, Any]:
        """Volumes per type and asset (sum of a transaction's credits: what it moved), fees earned (net
        credits to platform revenue), within [start, end) when given; balances held by users and pending
        withdrawals as they stand now. Full scans: an admin report, not a request path."""
        volumes: dict[str, dict[str, dict[str, int]]] = {}
        fees: dict[str, int] = {}
        count = 0
        ledger = self.ledger.within(request_deadline(), "A report over this much of the ledger")
        for tx in ledger.transactions(start, end):
            count += 1
            moved: dict[str, int] = {}
            for entry in tx.entries:
                if entry.amount > 0:
                    moved[entry.asset] = moved.get(entry.asset, 0) + entry.amount
                if entry.account.startswith("platform:revenue:"):
                    fees[entry.asset] = fees.get(entry.asset, 0) + entry.amount
            for asset, amount in moved.items():
                slot = volumes.setdefault(tx.type, {}).setdefault(asset, {"count": 0, "amount": 0})
                slot["count"] += 1
                slot["amount"] += amount
        held: dict[str, int] = {}
        pending: dict[str, dict[str, int]] = {}
        revenue: dict[str, int] = {}
        for (account, asset), balance in ledger.balances().items():
            kind = L.parse_account(account).kind
            if kind in ("wallet", "credits"):
                held[asset] = held.get(asset, 0) + balance
            elif kind == "pending_withdrawals":
                pending.setdefault(asset, {"amount": 0, "count": 0})["amount"] += balance
            elif kind == "platform_revenue":
                revenue[asset] = revenue.get(asset, 0) + balance
        for withdrawal in pending_withdrawals():
            slot = pending.setdefault(withdrawal.currency, {"amount": 0, "count": 0})
            slot["count"] += 1
        return {
            "from": to_iso(start) if start is not None else None,
            "to": to_iso(end) if end is not None else None,
            "transactions": count,
            "volumes": {t: dict(sorted(v.items())) for t, v in sorted(volumes.items())},
            "feesEarned": dict(sorted(fees.items())),
            "platformRevenue": dict(sorted(revenue.items())),
            "balancesHeld": dict(sorted(held.items())),
            "pendingWithdrawals": dict(sorted(pending.items())),
        }

    def verify_ledger(self) -> dict[str, Any]:
        """Every hash chain, account head and transaction checked (``LedgerStore.verify``); where it fails."""
        problems = self.ledger.within(request_deadline(), "Verifying the whole ledger").verify()
        return {
            "ok": not problems,
            "problems": [
                {"account": p.account, "asset": p.asset, "sequence": p.sequence, "message": p.message} for p in problems
            ],
            "checkedAt": to_iso(self.clock()),
        }
