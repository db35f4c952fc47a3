"""What a user's wallet holds and held: balances, the transaction history, daily statements.

Everything here is read from the ledger through its store (``LedgerStore``), whose entries are the
source of truth: ``available`` is an account's balance, ``pending`` the user's withdrawals not yet paid
out or released. Reads are bounded: the history reads at most ``limit`` + 1 entries per account and
resumes with a signed cursor that may name only the caller's own accounts; a statement reads an
account from its head back to a little before the day (:mod:`gridshare.ledger.history`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import to_iso
from gridshare.kernel.deadline import request_deadline
from gridshare.kernel.settings import get_settings
from gridshare.ledger import core as L
from gridshare.ledger.core import CURRENCIES, KWH, ChainedEntry
from gridshare.wallets.movements import WalletUseCases
from gridshare.wallets.withdrawals import pending_withdrawals

__all__ = ["Statements", "day_bounds"]


def day_bounds(day: date) -> tuple[int, int]:
    """[start, end) of a UTC day in epoch milliseconds."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(start.timestamp() * 1000), int((start + timedelta(days=1)).timestamp() * 1000)


def _money(asset: str) -> dict[str, Any]:
    if asset == KWH:
        return {"asset": asset, "currency": None, "unit": "Wh"}
    return {"asset": asset, "currency": asset, "minorUnits": CURRENCIES[asset]}


def _entry_view(entry: ChainedEntry) -> dict[str, Any]:
    return {
        "id": entry.transaction_id,
        "type": entry.tx_type,
        **_money(entry.asset),
        "amount": entry.amount,
        "balanceAfter": entry.balance_after,
        "createdAt": to_iso(entry.created_at),
    }


def _listed_first(default: str, asset: str) -> tuple[bool, bool, str]:
    """Sort key of a wallet's assets: the default currency, then other currencies, then kWh credits."""
    return asset != default, asset == KWH, asset


class Statements(WalletUseCases):
    def wallet(self, user_id: str) -> dict[str, Any]:
        """Balances per asset: ``available`` (the wallet or credits balance), ``pending`` (requested
        withdrawals not yet paid out or released) and their ``total``."""
        held = self._user_balances(user_id)
        pending: dict[str, int] = {}
        for item in pending_withdrawals(user_id):
            pending[item.currency] = pending.get(item.currency, 0) + int(item.amount)
        default = get_settings().default_currency
        assets = set(held) | set(pending) | {default}
        balances = []
        for asset in sorted(assets, key=lambda a: _listed_first(default, a)):
            available, waiting = held.get(asset, 0), pending.get(asset, 0)
            balances.append({**_money(asset), "available": available, "pending": waiting, "total": available + waiting})
        return {"defaultCurrency": default, "balances": balances}

    def transactions(
        self,
        user_id: str,
        *,
        asset: str | None,
        tx_type: str | None,
        start: int | None,
        end: int | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The caller's entries, newest first, merged over their accounts (or one asset's).

        The cursor holds, per account still to read, the sequence number to continue below; it is
        signed, and checked to name only the caller's own accounts. A read that reaches the request's
        deadline ends the page early, with a cursor (:mod:`gridshare.ledger.history`).
        """
        accounts = [L.user_account(user_id, a) for a in ([asset] if asset else self._user_assets(user_id))]
        bounds: dict[str, int | None] = {a: None for a in accounts}
        decoded = decode_cursor(cursor)
        if decoded is not None:
            bounds = _cursor_bounds(decoded, accounts)
        page = self.ledger.history(
            bounds, limit=limit, tx_type=tx_type, start=start, end=end, deadline=request_deadline()
        )
        items = [_entry_view(e) for e in page.entries]
        return items, encode_cursor({"b": page.below}) if page.below else None

    def statement(self, user_id: str, day: date) -> dict[str, Any]:
        """The caller's statement for one UTC day, per asset: opening, credits, debits, closing, lines.

        ``opening`` is the sum of every entry stamped before the day, ``closing`` = opening + credits -
        debits; read newest first from the account's head and stopped a little before the day.
        """
        start, end = day_bounds(day)
        statements = []
        ledger = self.ledger.within(request_deadline(), "A statement this far back")
        for asset in self._user_assets(user_id):
            recent = ledger.entries_since(L.user_account(user_id, asset), start)
            opening = recent.balance - sum(e.amount for e in recent.entries)
            lines = [e for e in reversed(recent.entries) if e.created_at < end]
            credits = sum(e.amount for e in lines if e.amount > 0)
            debits = -sum(e.amount for e in lines if e.amount < 0)
            statements.append(
                {
                    **_money(asset),
                    "opening": opening,
                    "credits": credits,
                    "debits": debits,
                    "closing": opening + credits - debits,
                    "lines": self._explained(lines),
                }
            )
        return {"date": day.isoformat(), "statements": statements}

    def _explained(self, lines: Sequence[ChainedEntry]) -> list[dict[str, Any]]:
        """Entry views; a settlement line carries its posting's metadata (what it settled: interval,
        energy, price, fees, imbalance; the split shows as the line's own amount)."""
        out = []
        metadata: dict[str, dict[str, Any]] = {}
        for e in lines:
            view = _entry_view(e)
            if e.tx_type == "settlement":
                if e.transaction_id not in metadata:
                    tx = self.ledger.transaction(e.transaction_id)
                    metadata[e.transaction_id] = dict(tx.metadata) if tx is not None else {}
                view["settlement"] = metadata[e.transaction_id]
            out.append(view)
        return out

    def _user_balances(self, user_id: str) -> dict[str, int]:
        """The user's accounts that exist -> balance: one consistent BatchGetItem over every asset."""
        keys = [(L.user_wallet(user_id, c), c) for c in CURRENCIES] + [(L.user_credits(user_id), KWH)]
        return {asset: balance for (_, asset), balance in self.ledger.balances_of(keys).items()}

    def _user_assets(self, user_id: str) -> list[str]:
        default = get_settings().default_currency
        return sorted(self._user_balances(user_id), key=lambda a: _listed_first(default, a))


def _cursor_bounds(decoded: dict[str, Any], accounts: Sequence[str]) -> dict[str, int | None]:
    bounds = decoded.get("b")
    mine = set(accounts)
    if not isinstance(bounds, dict) or not all(
        a in mine and (b is None or (isinstance(b, int) and b > 0)) for a, b in bounds.items()
    ):
        raise errors.BadRequest(
            "The cursor does not belong to this listing; start again without it.",
            errors=[errors.FieldError("cursor", "not a cursor of this listing")],
        )
    return dict(bounds)
