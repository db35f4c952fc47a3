"""Clearing of one delivery interval's order book: a double auction over numpy arrays. Pure (numpy only).

**Books.** One side of one interval is a ``Book`` of n orders: a limit price (minor units per kWh, > 0, the
price *without* the grid fee), an energy (Wh, > 0), a time priority ``seq`` (lower = accepted earlier,
unique per side), the community index of the order's party (-1 = none) and whether the order is
community-only. Prices and energies are below 2**31, so every product ``energy * price`` fits in int64.

**Markets of an interval.** An interval clears in two steps:

1. *Community markets*: for every community index c (ascending), the orders whose party is in c -- its
   community-only orders and its ordinary orders alike -- clear among themselves.
2. *The open market*: the remaining energy of every ordinary (not community-only) order -- orders of no
   community, and the unfilled part of community members' ordinary orders -- clears in one market.

A community-only order's remainder never leaves its community. Members' ordinary orders trade at home
first (at the lower community fee, energy stays local) and keep their remainder for the open market. No
open-market trade joins two parties of the same community: after step 1 every remaining bid of a
community is below every remaining ask of that community.

**Matching in one market: price-time priority.** Bids are ranked by limit price descending, then ``seq``
ascending; asks by limit price ascending, then ``seq`` ascending. The k-th Wh of the ranked demand is
matched with the k-th Wh of the ranked supply for as long as the bid's limit is at least the ask's
limit. This is the merge of two cumulative volume curves: the breakpoints of both cumulative sums cut
the cleared volume into trade segments, one trade per (bid, ask) segment. Consequences:

- the cleared volume is the largest at which the curves still cross, and the matching maximises the
  gains from trade (sum of ``(bid limit - ask limit) * energy``) over every feasible matching;
- *partial fills at the margin go by time priority*: at most one bid and one ask per market are partly
  filled, and among orders at the marginal price the earlier ones fill first. Time priority rather than
  pro rata: it is deterministic in integer Wh without a remainder rule, rewards early orders, and makes
  no dust trades (pro rata splits the marginal volume over every order at that price);
- *ties* cannot remain: ``seq`` is unique per side, so the ranking is total and the result depends only
  on the set of orders, not on their positions in the arrays.

**Prices.** ``pay_as_clear`` (uniform price, the default): each market trades at one price, the midpoint
of its marginal pair (the last matched bid's and ask's limits) rounded half up, ``(bid + ask + 1) // 2``.
It lies between the two, so no trade is above a bid's limit or below an ask's, and no unmatched bid
above it meets an unmatched ask below it. Community markets and the open market each have their own
price (``Clearing.market_prices``). ``pay_as_bid`` (discriminatory): each trade is priced at its bid's
limit; the buyer pays what it bid and the seller gets at least its ask.

``Clearing.clearing_price`` is the volume-weighted average of the interval's trade prices, rounded half
up (None when nothing cleared): under ``pay_as_clear`` with trades in one market only (the usual case)
it is exactly that market's uniform price.

**Grid fee.** Each trade carries a fee per kWh added to the buyer's price and kept for the grid
counterparty: ``community_fee_minor_per_kwh`` when buyer and seller are in the same community (every
community-market trade), ``grid_fee_minor_per_kwh`` otherwise. Fees never change the matching: limits
are compared without them.

**Money in minor units** (``trade_cost_minor``): for a trade of ``e`` Wh at price ``p`` and fee ``f``
(per kWh) the buyer pays ``floor(e * (p + f) / 1000)``, the seller receives ``floor(e * p / 1000)`` and
the grid the remainder (``floor(e * f / 1000)`` or one more), so buyer = seller + grid exactly. The
buyer's total rounds down so that a bid's reservation, ``max_bid_cost_minor = ceil(E * (L + G) / 1000)``
for energy E, limit L and grid fee G, always covers every trade of that bid however it is split: a sum
of floors is at most the floor of the sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_COMMUNITY",
    "MAX_ENERGY_WH",
    "MAX_PRICE",
    "MECHANISMS",
    "Book",
    "Clearing",
    "Fees",
    "clear",
    "clear_many",
    "max_bid_cost_minor",
    "trade_cost_minor",
    "trade_costs_minor",
]

MECHANISMS = ("pay_as_clear", "pay_as_bid")
MAX_PRICE = 2**31 - 1  # minor units per kWh
MAX_ENERGY_WH = 2**31 - 1
MAX_COMMUNITY = 2**31 - 1

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.flags.writeable = False
_ZERO = np.zeros(1, dtype=np.int64)
_COMMUNITIES = MAX_COMMUNITY + 1  # (interval, community) -> one int64 key: interval * _COMMUNITIES + community


def _ints(values: Any) -> I64:
    out: I64 = np.ascontiguousarray(values, dtype=np.int64)
    return out


@dataclass(frozen=True)
class Book:
    """One side (bids or asks) of one interval: n orders as parallel arrays. Validated on construction."""

    price: I64
    energy_wh: I64
    seq: I64
    community: I64
    community_only: Bools

    def __post_init__(self) -> None:
        for name in ("price", "energy_wh", "seq", "community"):
            object.__setattr__(self, name, _ints(getattr(self, name)))
        object.__setattr__(self, "community_only", np.ascontiguousarray(self.community_only, dtype=np.bool_))
        n = self.price.shape[0]
        for name in ("price", "energy_wh", "seq", "community", "community_only"):
            array = getattr(self, name)
            if array.ndim != 1 or array.shape[0] != n:
                raise ValueError(f"Book.{name} must be one-dimensional with the length of price ({n})")
        if n == 0:
            return
        if int(self.price.min()) < 1 or int(self.price.max()) > MAX_PRICE:
            raise ValueError(f"Book.price must be in [1, {MAX_PRICE}]")
        if int(self.energy_wh.min()) < 1 or int(self.energy_wh.max()) > MAX_ENERGY_WH:
            raise ValueError(f"Book.energy_wh must be in [1, {MAX_ENERGY_WH}]")
        if int(self.community.min()) < -1 or int(self.community.max()) > MAX_COMMUNITY:
            raise ValueError(f"Book.community must be a community index in [0, {MAX_COMMUNITY}] or -1")
        if bool(np.any(self.community_only & (self.community < 0))):
            raise ValueError("a community-only order needs a community")
        ordered = np.sort(self.seq)
        if n > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
            raise ValueError("Book.seq must be unique")

    def __len__(self) -> int:
        return int(self.price.shape[0])

    @staticmethod
    def of(rows: Sequence[tuple[int, int, int, int, bool]]) -> Book:
        """A book from (price, energy_wh, seq, community, community_only) rows."""
        if not rows:
            return Book(_EMPTY, _EMPTY, _EMPTY, _EMPTY, np.zeros(0, dtype=np.bool_))
        price, energy, seq, community, only = zip(*rows, strict=True)
        return Book(_ints(price), _ints(energy), _ints(seq), _ints(community), np.array(only, dtype=np.bool_))


@dataclass(frozen=True)
class Fees:
    """Grid fees per kWh, added to the buyer's price and kept for the grid counterparty."""

    grid_fee_minor_per_kwh: int
    community_fee_minor_per_kwh: int  # when buyer and seller are in the same community

    def __post_init__(self) -> None:
        if not 0 <= self.community_fee_minor_per_kwh <= self.grid_fee_minor_per_kwh <= MAX_PRICE:
            raise ValueError("fees must satisfy 0 <= community fee <= grid fee")


@dataclass(frozen=True, eq=False)
class Clearing:
    """An interval's trades, one row per (bid, ask) pair, in clearing order (community markets by index,
    then the open market; within a market in price-time priority)."""

    bid_index: I64  # into the interval's bids
    ask_index: I64  # into the interval's asks
    energy_wh: I64
    price: I64  # minor per kWh paid to the seller
    grid_fee: I64  # minor per kWh added for the buyer
    clearing_price: int | None
    cleared_energy_wh: int
    market: I64 = field(default_factory=lambda: _EMPTY)  # per trade: its community market, -1 = open market
    market_prices: Mapping[int, int] = field(default_factory=dict)  # pay_as_clear: market -> uniform price

    def filled_bid_wh(self, n_bids: int) -> I64:
        return _filled(self.bid_index, self.energy_wh, n_bids)

    def filled_ask_wh(self, n_asks: int) -> I64:
        return _filled(self.ask_index, self.energy_wh, n_asks)

    def same_as(self, other: Clearing) -> bool:
        """Field by field equality (arrays compared by value)."""
        return (
            all(
                np.array_equal(getattr(self, name), getattr(other, name))
                for name in ("bid_index", "ask_index", "energy_wh", "price", "grid_fee", "market")
            )
            and self.clearing_price == other.clearing_price
            and self.cleared_energy_wh == other.cleared_energy_wh
            and dict(self.market_prices) == dict(other.market_prices)
        )


def _filled(index: I64, energy: I64, n: int) -> I64:
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, index, energy)
    return out


def max_bid_cost_minor(energy_wh: int, limit_price_minor_per_kwh: int, fees: Fees) -> int:
    """A bid's worst-case cost, its reservation: ``ceil(energy_wh * (limit + grid_fee) / 1000)``."""
    return -(-energy_wh * (limit_price_minor_per_kwh + fees.grid_fee_minor_per_kwh) // 1000)


def trade_cost_minor(energy_wh: int, price: int, grid_fee: int) -> tuple[int, int]:
    """(to the seller, to the grid) in minor units for one trade; the buyer pays their sum.

    Buyer total ``floor(e * (price + fee) / 1000)``, seller ``floor(e * price / 1000)``, grid the rest.
    """
    total = energy_wh * (price + grid_fee) // 1000
    seller = energy_wh * price // 1000
    return seller, total - seller


def trade_costs_minor(energy_wh: I64, price: I64, grid_fee: I64) -> tuple[I64, I64]:
    """``trade_cost_minor`` over arrays of trades: (to the sellers, to the grid)."""
    total = energy_wh * (price + grid_fee) // 1000
    seller = energy_wh * price // 1000
    return seller, total - seller


def clear(bids: Book, asks: Book, *, mechanism: str = "pay_as_clear", fees: Fees) -> Clearing:
    """Clears one interval (the rules are in the module docstring)."""
    return clear_many([(bids, asks)], mechanism=mechanism, fees=fees)[0]


@dataclass(frozen=True)
class _Matched:
    """The trades of one batch of independent markets (groups), as positions in the batch's arrays."""

    bid_pos: I64
    ask_pos: I64
    energy: I64
    group: I64  # per trade, ascending
    traded_groups: I64  # the groups that traded, ascending
    marginal_bid_price: I64  # per traded group: its last matched bid's limit
    marginal_ask_price: I64
    bid_filled: I64 | None  # per bid of the batch, when asked for
    ask_filled: I64 | None


_RADIX_MAX_BITS = 48  # up to three 16-bit passes; wider keys use one comparison argsort


def _radix_order(key: I64, bits: int) -> I64:
    """Stable LSD radix argsort of non-negative keys below 2**bits, in 16-bit digits (numpy sorts
    uint8/uint16 keys with a counting sort when asked for a stable sort): linear, ~5x a quicksort."""
    if bits == 0:
        return np.arange(key.shape[0], dtype=np.int64)
    order: I64 | None = None
    shift = 0
    while shift < bits:
        width = min(16, bits - shift)
        digits = key if order is None else key[order]
        if shift:
            digits = digits >> shift
        small = (digits & ((1 << width) - 1)).astype(np.uint8 if width <= 8 else np.uint16)
        step: I64 = np.argsort(small, kind="stable")
        order = step if order is None else order[step]
        shift += width
    assert order is not None
    return order


def _rank(group: I64, price: I64, seq: I64) -> I64:
    """Positions ordered by (group, price, seq) ascending; the triples are unique, so the order is total."""
    n = int(price.shape[0])
    if n == 0:
        return _EMPTY
    g0, p0, s0 = int(group.min()), int(price.min()), int(seq.min())
    g_span, p_span, s_span = int(group.max()) - g0 + 1, int(price.max()) - p0 + 1, int(seq.max()) - s0 + 1
    span = g_span * p_span * s_span
    if span > 2**62:
        fallback: I64 = np.lexsort((seq, price, group))
        return fallback
    # One composite int64 key (group, price, seq), sorted by radix passes or one argsort.
    key = price - p0 if p0 else price
    if g_span > 1:
        key = key + (group - g0) * p_span
    key = key * s_span + (seq - s0) if s_span > 1 else key
    bits = (span - 1).bit_length()
    if bits <= _RADIX_MAX_BITS:
        return _radix_order(key, bits)
    order: I64 = np.argsort(key)
    return order


def _match(
    n_groups: int,
    b_group: I64,
    b_price: I64,
    b_energy: I64,
    b_seq: I64,
    a_group: I64,
    a_price: I64,
    a_energy: I64,
    a_seq: I64,
    *,
    fills: bool,
) -> _Matched:
    """Price-time priority matching of ``n_groups`` independent markets at once.

    Each group's cumulative bid and ask curves are laid on one global axis, group g starting at
    ``base[g]`` and taking ``max(bid total, ask total)`` Wh, so both sides' cumulative ends are
    non-decreasing over all groups and one merge serves every market. The merge of the two curves'
    breakpoints cuts the axis into segments, each covered by one bid and one ask; a segment trades when
    both belong to the same group (inside the group's common volume) and the bid's limit >= the ask's.
    """
    nb, na = int(b_price.shape[0]), int(a_price.shape[0])
    if nb == 0 or na == 0:
        zb, za = np.zeros(nb, dtype=np.int64), np.zeros(na, dtype=np.int64)
        return _Matched(_EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY, zb, za)
    ob = _rank(b_group, -b_price, b_seq)
    oa = _rank(a_group, a_price, a_seq)
    gb, pb, eb = b_group[ob], b_price[ob], b_energy[ob]
    ga, pa, ea = a_group[oa], a_price[oa], a_energy[oa]

    b_end = np.cumsum(eb)
    a_end = np.cumsum(ea)
    if n_groups == 1:
        base = np.zeros(2, dtype=np.int64)
        base[1] = max(int(b_end[-1]), int(a_end[-1]))
    else:
        groups = np.arange(n_groups + 1, dtype=np.int64)
        b_cut = np.searchsorted(gb, groups, "left")  # group g's bids are b_cut[g]:b_cut[g + 1]
        a_cut = np.searchsorted(ga, groups, "left")
        b_cum = np.concatenate((_ZERO, b_end))[b_cut]
        a_cum = np.concatenate((_ZERO, a_end))[a_cut]
        base = np.zeros(n_groups + 1, dtype=np.int64)
        np.cumsum(np.maximum(np.diff(b_cum), np.diff(a_cum)), out=base[1:])
        b_end += (base[:-1] - b_cum[:-1])[gb]
        a_end += (base[:-1] - a_cum[:-1])[ga]

    # Merge the breakpoints (three sorted runs: a linear merge). For each distinct point s, the number
    # of bid ends <= s is the index of the bid covering [s, next point); the same for asks.
    points = np.concatenate((base[:-1], b_end, a_end))
    perm = np.argsort(points, kind="stable")
    merged = points[perm]
    is_bid = ((perm >= n_groups) & (perm < n_groups + nb)).astype(np.int64)
    is_ask = (perm >= n_groups + nb).astype(np.int64)
    last = np.empty(merged.shape[0], dtype=np.bool_)
    last[-1] = True
    np.not_equal(merged[1:], merged[:-1], out=last[:-1])
    start_all = merged[last]
    start, end = start_all[:-1], start_all[1:]
    bi = np.cumsum(is_bid)[last][:-1]
    ai = np.cumsum(is_ask)[last][:-1]
    inside = (bi < nb) & (ai < na)
    bi_c = np.minimum(bi, nb - 1)
    ai_c = np.minimum(ai, na - 1)
    ok = inside & (pb[bi_c] >= pa[ai_c])
    if n_groups > 1:
        ok &= gb[bi_c] == ga[ai_c]
    keep = np.flatnonzero(ok)
    t_bi, t_ai = bi[keep], ai[keep]
    t_end = end[keep]
    energy = t_end - start[keep]
    t_group = gb[t_bi]

    if keep.shape[0]:
        last_trade = np.empty(keep.shape[0], dtype=np.bool_)
        last_trade[-1] = True
        np.not_equal(t_group[1:], t_group[:-1], out=last_trade[:-1])
        final = np.flatnonzero(last_trade)
    else:
        final = _EMPTY
    traded = t_group[final]
    bid_filled = ask_filled = None
    if fills:
        cleared_to = base[:-1].copy()  # per group: where its cleared volume ends on the global axis
        cleared_to[traded] = t_end[final]
        bid_filled = np.empty(nb, dtype=np.int64)
        bid_filled[ob] = np.clip(cleared_to[gb] - (b_end - eb), 0, eb)
        ask_filled = np.empty(na, dtype=np.int64)
        ask_filled[oa] = np.clip(cleared_to[ga] - (a_end - ea), 0, ea)
    return _Matched(
        ob[t_bi],
        oa[t_ai],
        energy,
        t_group,
        traded,
        pb[t_bi[final]],
        pa[t_ai[final]],
        bid_filled,
        ask_filled,
    )


def _concat(arrays: list[I64]) -> I64:
    return np.concatenate(arrays) if len(arrays) != 1 else arrays[0]


def _side(books: list[Book], name: str) -> Any:
    """One column of several books, end to end (the book's own array when there is one book)."""
    return getattr(books[0], name) if len(books) == 1 else np.concatenate([getattr(b, name) for b in books])


_CHUNK_ORDERS = 40_000  # orders (bids + asks) per batch: a batch's arrays stay in a core's L2 cache


def clear_many(
    intervals: Sequence[tuple[Book, Book]], *, mechanism: str = "pay_as_clear", fees: Fees
) -> list[Clearing]:
    """Clears several intervals; element i equals ``clear(*intervals[i])``.

    Consecutive intervals are cleared together, vectorised, in batches of about ``_CHUNK_ORDERS``
    orders: one pass per batch keeps Python's per-interval overhead out, and batches small enough for
    the cache make the random gathers of the sort and the merge cheap (~2x faster than one batch).
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"unknown mechanism {mechanism!r}: one of {', '.join(MECHANISMS)}")
    out: list[Clearing] = []
    batch: list[tuple[Book, Book]] = []
    size = 0
    for bids, asks in intervals:
        n = len(bids) + len(asks)
        if batch and size + n > _CHUNK_ORDERS:
            out += _clear_batch(batch, mechanism, fees)
            batch, size = [], 0
        batch.append((bids, asks))
        size += n
    if batch:
        out += _clear_batch(batch, mechanism, fees)
    return out


def _clear_batch(intervals: Sequence[tuple[Book, Book]], mechanism: str, fees: Fees) -> list[Clearing]:
    """Clears consecutive intervals in one vectorised pass."""
    n_int = len(intervals)
    bid_books = [b for b, _ in intervals]
    ask_books = [a for _, a in intervals]
    b_len = np.array([len(b) for b in bid_books], dtype=np.int64)
    a_len = np.array([len(a) for a in ask_books], dtype=np.int64)
    b_off = np.zeros(n_int + 1, dtype=np.int64)
    np.cumsum(b_len, out=b_off[1:])
    a_off = np.zeros(n_int + 1, dtype=np.int64)
    np.cumsum(a_len, out=a_off[1:])
    ids = np.arange(n_int, dtype=np.int64)
    b_int, a_int = np.repeat(ids, b_len), np.repeat(ids, a_len)
    b_price, a_price = _side(bid_books, "price"), _side(ask_books, "price")
    b_energy, a_energy = _side(bid_books, "energy_wh"), _side(ask_books, "energy_wh")
    b_seq, a_seq = _side(bid_books, "seq"), _side(ask_books, "seq")
    b_comm, a_comm = _side(bid_books, "community"), _side(ask_books, "community")
    b_only, a_only = _side(bid_books, "community_only"), _side(ask_books, "community_only")
    pay_as_clear = mechanism == "pay_as_clear"

    bid_parts: list[I64] = []
    ask_parts: list[I64] = []
    energy_parts: list[I64] = []
    int_parts: list[I64] = []
    market_parts: list[I64] = []
    price_parts: list[I64] = []
    uniform: list[tuple[I64, I64, I64]] = []  # (interval, market, uniform price) under pay_as_clear

    # 1. Community markets: every order of a community, with the other orders of that community.
    b_left, a_left = b_energy, a_energy
    b_cpos, a_cpos = np.flatnonzero(b_comm >= 0), np.flatnonzero(a_comm >= 0)
    if b_cpos.shape[0] and a_cpos.shape[0]:
        b_key = b_int[b_cpos] * _COMMUNITIES + b_comm[b_cpos]
        a_key = a_int[a_cpos] * _COMMUNITIES + a_comm[a_cpos]
        keys, inverse = np.unique(np.concatenate((b_key, a_key)), return_inverse=True)
        inverse = inverse.astype(np.int64, copy=False).reshape(-1)
        nbc = b_cpos.shape[0]
        m = _match(
            int(keys.shape[0]),
            inverse[:nbc],
            b_price[b_cpos],
            b_energy[b_cpos],
            b_seq[b_cpos],
            inverse[nbc:],
            a_price[a_cpos],
            a_energy[a_cpos],
            a_seq[a_cpos],
            fills=True,
        )
        if m.energy.shape[0]:
            assert m.bid_filled is not None and m.ask_filled is not None
            b_left = b_energy.copy()
            b_left[b_cpos] -= m.bid_filled
            a_left = a_energy.copy()
            a_left[a_cpos] -= m.ask_filled
            bid_parts.append(b_cpos[m.bid_pos])
            ask_parts.append(a_cpos[m.ask_pos])
            energy_parts.append(m.energy)
            group_int, group_comm = np.divmod(keys, _COMMUNITIES)
            int_parts.append(group_int[m.group])
            market_parts.append(group_comm[m.group])
            if pay_as_clear:
                group_price = np.zeros(keys.shape[0], dtype=np.int64)
                uniform_price = (m.marginal_bid_price + m.marginal_ask_price + 1) // 2
                group_price[m.traded_groups] = uniform_price
                price_parts.append(group_price[m.group])
                uniform.append((group_int[m.traded_groups], group_comm[m.traded_groups], uniform_price))
    community_trades = len(energy_parts)

    # 2. The open market: what is left of every ordinary order.
    b_open = ~b_only
    a_open = ~a_only
    if community_trades:
        b_open &= b_left > 0
        a_open &= a_left > 0
    if bool(b_open.all()) and bool(a_open.all()):  # no community order anywhere: no copies
        b_opos: I64 | None = None
        a_opos: I64 | None = None
        m = _match(n_int, b_int, b_price, b_left, b_seq, a_int, a_price, a_left, a_seq, fills=False)
    else:
        b_opos, a_opos = np.flatnonzero(b_open), np.flatnonzero(a_open)
        m = _match(
            n_int,
            b_int[b_opos],
            b_price[b_opos],
            b_left[b_opos],
            b_seq[b_opos],
            a_int[a_opos],
            a_price[a_opos],
            a_left[a_opos],
            a_seq[a_opos],
            fills=False,
        )
    if m.energy.shape[0]:
        bid_parts.append(m.bid_pos if b_opos is None else b_opos[m.bid_pos])
        ask_parts.append(m.ask_pos if a_opos is None else a_opos[m.ask_pos])
        energy_parts.append(m.energy)
        int_parts.append(m.group)
        market_parts.append(np.full(m.energy.shape[0], -1, dtype=np.int64))
        if pay_as_clear:
            group_price = np.zeros(n_int, dtype=np.int64)
            uniform_price = (m.marginal_bid_price + m.marginal_ask_price + 1) // 2
            group_price[m.traded_groups] = uniform_price
            price_parts.append(group_price[m.group])
            uniform.append((m.traded_groups, np.full(m.traded_groups.shape[0], -1, dtype=np.int64), uniform_price))

    if not energy_parts:
        return [Clearing(_EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY, None, 0, _EMPTY, {}) for _ in range(n_int)]
    t_int = _concat(int_parts)
    t_bid = _concat(bid_parts)
    t_ask = _concat(ask_parts)
    t_energy = _concat(energy_parts)
    t_market = _concat(market_parts)
    if len(energy_parts) > 1:  # per interval: its community markets, then its open market
        order = np.argsort(t_int, kind="stable")
        t_int, t_bid, t_ask, t_energy, t_market = (x[order] for x in (t_int, t_bid, t_ask, t_energy, t_market))
        t_price = _concat(price_parts)[order] if pay_as_clear else b_price[t_bid]
    else:
        t_price = price_parts[0] if pay_as_clear else b_price[t_bid]
    # A community market's parties share its community; no open-market trade joins two parties of one
    # community (module docstring): the fee follows the market.
    t_fee = np.where(t_market >= 0, fees.community_fee_minor_per_kwh, fees.grid_fee_minor_per_kwh).astype(np.int64)

    bounds = np.searchsorted(t_int, np.arange(n_int + 1, dtype=np.int64), "left")
    energy_cum = np.concatenate((_ZERO, np.cumsum(t_energy)))
    value = t_energy * t_price  # each < 2**62 (MAX_ENERGY_WH * MAX_PRICE)
    if int(energy_cum[-1]) * int(t_price.max()) < 2**62:
        values = np.concatenate((_ZERO, np.cumsum(value)))[bounds].tolist()
    else:  # astronomically large books: exact Python integers
        running, values = 0, [0]
        for i in range(n_int):
            running += sum(int(v) for v in value[bounds[i] : bounds[i + 1]])
            values.append(running)
    energies = energy_cum[bounds].tolist()

    prices_by_interval: list[dict[int, int]] = [{} for _ in range(n_int)]
    for u_int, u_market, u_price in uniform:
        for i, market, price in zip(u_int.tolist(), u_market.tolist(), u_price.tolist(), strict=True):
            prices_by_interval[i][market] = price

    out: list[Clearing] = []
    cuts = bounds.tolist()
    b_base, a_base = b_off.tolist(), a_off.tolist()
    for i in range(n_int):
        lo, hi = cuts[i], cuts[i + 1]
        cleared = energies[i + 1] - energies[i]
        value_i = values[i + 1] - values[i]
        out.append(
            Clearing(
                bid_index=t_bid[lo:hi] - b_base[i] if b_base[i] else t_bid[lo:hi],
                ask_index=t_ask[lo:hi] - a_base[i] if a_base[i] else t_ask[lo:hi],
                energy_wh=t_energy[lo:hi],
                price=t_price[lo:hi],
                grid_fee=t_fee[lo:hi],
                clearing_price=(2 * value_i + cleared) // (2 * cleared) if cleared else None,
                cleared_energy_wh=cleared,
                market=t_market[lo:hi],
                market_prices=prices_by_interval[i],
            )
        )
    return out
