"""A plain-Python reference of the clearing rules (docs/market.md, "## Clearing"): loops, no numpy tricks.

The property tests compare gridshare.market.clearing with it trade for trade. Rows are
(price, energy_wh, seq, community, community_only), as for ``Book.of``.
"""

from __future__ import annotations

from dataclasses import dataclass

Row = tuple[int, int, int, int, bool]


@dataclass(frozen=True)
class RefTrade:
    bid: int  # index into the bid rows
    ask: int
    energy_wh: int
    price: int
    grid_fee: int
    market: int  # community index, -1 = open market


def _match(
    bids: list[Row], asks: list[Row], bid_ids: list[int], ask_ids: list[int], left_b: list[int], left_a: list[int]
) -> list[tuple[int, int, int]]:
    """Price-time priority within one market; updates the remaining energies; (bid, ask, energy) rows."""
    b_order = sorted(bid_ids, key=lambda i: (-bids[i][0], bids[i][2]))
    a_order = sorted(ask_ids, key=lambda j: (asks[j][0], asks[j][2]))
    out: list[tuple[int, int, int]] = []
    x = y = 0
    while x < len(b_order) and y < len(a_order):
        i, j = b_order[x], a_order[y]
        if left_b[i] == 0:
            x += 1
            continue
        if left_a[j] == 0:
            y += 1
            continue
        if bids[i][0] < asks[j][0]:
            break
        q = min(left_b[i], left_a[j])
        left_b[i] -= q
        left_a[j] -= q
        out.append((i, j, q))
    return out


def reference_clear(
    bids: list[Row], asks: list[Row], mechanism: str, grid_fee: int, community_fee: int
) -> tuple[list[RefTrade], int | None, dict[int, int]]:
    """(trades in clearing order, clearing price, market -> uniform price under pay_as_clear)."""
    left_b = [r[1] for r in bids]
    left_a = [r[1] for r in asks]
    markets: list[tuple[int, list[tuple[int, int, int]]]] = []
    communities = sorted({r[3] for r in bids if r[3] >= 0} | {r[3] for r in asks if r[3] >= 0})
    for c in communities:
        b_ids = [i for i, r in enumerate(bids) if r[3] == c]
        a_ids = [j for j, r in enumerate(asks) if r[3] == c]
        markets.append((c, _match(bids, asks, b_ids, a_ids, left_b, left_a)))
    b_ids = [i for i, r in enumerate(bids) if not r[4] and left_b[i] > 0]
    a_ids = [j for j, r in enumerate(asks) if not r[4] and left_a[j] > 0]
    markets.append((-1, _match(bids, asks, b_ids, a_ids, left_b, left_a)))

    trades: list[RefTrade] = []
    uniform: dict[int, int] = {}
    for market, rows in markets:
        if not rows:
            continue
        last_bid, last_ask, _ = rows[-1]
        price = (bids[last_bid][0] + asks[last_ask][0] + 1) // 2
        if mechanism == "pay_as_clear":
            uniform[market] = price
        for i, j, q in rows:
            same = bids[i][3] >= 0 and bids[i][3] == asks[j][3]
            trades.append(
                RefTrade(
                    bid=i,
                    ask=j,
                    energy_wh=q,
                    price=price if mechanism == "pay_as_clear" else bids[i][0],
                    grid_fee=community_fee if same else grid_fee,
                    market=market,
                )
            )
    volume = sum(t.energy_wh for t in trades)
    value = sum(t.energy_wh * t.price for t in trades)
    clearing_price = (2 * value + volume) // (2 * volume) if volume else None
    return trades, clearing_price, uniform
