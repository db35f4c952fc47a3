"""The matching engine under gridshare.market.clearing: price-time ranking and the merge of the two
cumulative volume curves of every market of a batch, vectorised (numpy). Pure; the rules it implements
are in gridshare.market.clearing's docstring, which is the module to call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.flags.writeable = False
_ZERO = np.zeros(1, dtype=np.int64)


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
        if order is None:
            digits = key & ((1 << width) - 1)
        else:
            digits = key[order]
            np.right_shift(digits, shift, out=digits)
            np.bitwise_and(digits, (1 << width) - 1, out=digits)
        step: I64 = np.argsort(digits.astype(np.uint8 if width <= 8 else np.uint16), kind="stable")
        order = step if order is None else order[step]
        shift += width
    assert order is not None
    return order


def _rank(group: I64 | None, price: I64, seq: I64, *, descending: bool) -> I64:
    """Positions ordered by group, then price (descending or ascending), then seq: a total order, since
    seq is unique per side. ``group`` None = one group."""
    n = int(price.shape[0])
    if n == 0:
        return _EMPTY
    p_lo, p_hi, s0 = int(price.min()), int(price.max()), int(seq.min())
    p_span, s_span = p_hi - p_lo + 1, int(seq.max()) - s0 + 1
    g0 = int(group.min()) if group is not None else 0
    g_span = int(group.max()) - g0 + 1 if group is not None else 1
    span = g_span * p_span * s_span
    if span > 2**62:
        fallback: I64 = np.lexsort((seq, -price if descending else price, group if group is not None else seq * 0))
        return fallback
    # One composite int64 key (group, price rank, seq), sorted by radix passes (or one argsort). Rows
    # already in seq order (the order orders were accepted in) need no seq digits: a stable sort keeps it.
    in_seq_order = s_span > 1 and n > 1 and bool(np.all(seq[1:] > seq[:-1]))
    key = p_hi - price if descending else price - p_lo
    if g_span > 1:
        assert group is not None
        key += (group - g0) * p_span
    if in_seq_order:
        span = g_span * p_span
    elif s_span > 1:
        key *= s_span
        key += seq
        if s0:
            key -= s0
    bits = (span - 1).bit_length()
    if bits <= _RADIX_MAX_BITS:
        return _radix_order(key, bits)
    order: I64 = np.argsort(key, kind="stable" if in_seq_order else None)
    return order


def _cleared_to(
    n_groups: int, gb: I64 | None, ga: I64 | None, pb: I64, pa: I64, b_end: I64, a_end: I64, base: I64, common: I64
) -> I64:
    """Per group, where its cleared volume ends on the global axis: the first Wh whose bid and ask do
    not cross (``common``, the end of the shorter curve, when every Wh does).

    Bid i (ranked) covers [B(i-1), B(i)); its Wh cross while they stay below S(p_i), the group's ask
    volume at limits <= p_i, so bid i's first non-crossing Wh is max(B(i-1), S(p_i)). Crossing is monotone,
    hence the cleared volume ends at the least of these over the bids, and bids of one price level share
    S: only each level's first bid counts.
    """
    nb = pb.shape[0]
    head = np.empty(nb, dtype=np.bool_)
    head[0] = True
    np.not_equal(pb[1:], pb[:-1], out=head[1:])
    if gb is not None:
        head[1:] |= gb[1:] != gb[:-1]
    level = np.flatnonzero(head)
    price = pb[level]
    if gb is None or ga is None:
        asks_at_or_below = np.searchsorted(pa, price, "right")
        group = np.zeros(level.shape[0], dtype=np.int64)
    else:
        group = gb[level]
        span = int(max(int(pa.max()), int(price.max()))) + 1
        asks_at_or_below = np.searchsorted(ga * span + pa, group * span + price, "right")
    # S(p) on the global axis: the end of the last ask at or below p (the group's base when none is)
    supply = np.concatenate((_ZERO, a_end))[asks_at_or_below]
    np.maximum(supply, base[group], out=supply)
    first_fail = np.maximum(_bid_starts(b_end, level, base, group), supply)
    cleared_to = common.copy()
    np.minimum.at(cleared_to, group, first_fail)
    return cleared_to


def _bid_starts(b_end: I64, index: I64, base: I64, group: I64) -> I64:
    """Where the bids at ``index`` start on the global axis (a group's first bid starts at its base)."""
    previous = np.concatenate((_ZERO, b_end))[index]
    return np.maximum(previous, base[group])


def match_markets(
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
    reserve: int = 0,
) -> _Matched:
    """Price-time priority matching of ``n_groups`` independent markets at once; ``*_group`` is each
    order's market in 0..n_groups-1. Orders of energy 0 take part in nothing. The trade arrays
    (``bid_pos``, ``ask_pos``, ``energy``) start with ``reserve`` unset slots, for the caller to fill.

    Each group's cumulative bid and ask curves are laid on one global axis, group g from ``base[g]``
    over ``max(bid total, ask total)`` Wh, so both sides' cumulative ends are non-decreasing over all
    groups. ``_cleared_to`` finds where each group's curves stop crossing; the merged breakpoints of
    both curves below it cut the cleared volume into trades, one (bid, ask) per segment.
    """
    nb, na = int(b_price.shape[0]), int(a_price.shape[0])
    if nb == 0 or na == 0:
        return _nothing(nb, na, reserve)
    one = n_groups == 1
    ob = _rank(None if one else b_group, b_price, b_seq, descending=True)
    oa = _rank(None if one else a_group, a_price, a_seq, descending=False)
    # Temporaries are dropped as soon as they are dead: every call re-faults its peak memory (the
    # allocator returns freed memory to the system), and page faults are a large share of the cost.
    pb, pa = b_price[ob], a_price[oa]
    b_end = np.cumsum(b_energy[ob])
    a_end = np.cumsum(a_energy[oa])
    if one:
        gb = ga = _EMPTY
        b_cut = np.array([0, nb], dtype=np.int64)
        a_cut = np.array([0, na], dtype=np.int64)
        base = np.array([0, max(int(b_end[-1]), int(a_end[-1]))], dtype=np.int64)
        common = np.array([min(int(b_end[-1]), int(a_end[-1]))], dtype=np.int64)
    else:
        gb, ga = b_group[ob], a_group[oa]
        groups = np.arange(n_groups + 1, dtype=np.int64)
        b_cut = np.searchsorted(gb, groups, "left")  # group g's bids are b_cut[g]:b_cut[g + 1]
        a_cut = np.searchsorted(ga, groups, "left")
        b_cum = np.concatenate((_ZERO, b_end))[b_cut]
        a_cum = np.concatenate((_ZERO, a_end))[a_cut]
        b_total, a_total = np.diff(b_cum), np.diff(a_cum)
        base = np.zeros(n_groups + 1, dtype=np.int64)
        np.cumsum(np.maximum(b_total, a_total), out=base[1:])
        b_end += np.repeat(base[:-1] - b_cum[:-1], np.diff(b_cut))
        a_end += np.repeat(base[:-1] - a_cum[:-1], np.diff(a_cut))
        common = base[:-1] + np.minimum(b_total, a_total)
    cleared_to = _cleared_to(n_groups, None if one else gb, None if one else ga, pb, pa, b_end, a_end, base, common)

    # The orders that trade: per group, from its first order to the one covering its last cleared Wh.
    traded = np.flatnonzero(cleared_to > base[:-1])
    last_wh = cleared_to[traded] - 1
    b_stop = np.searchsorted(b_end, last_wh, "right")  # the marginal bid (sorted position)
    a_stop = np.searchsorted(a_end, last_wh, "right")
    marginal_bid_price, marginal_ask_price = pb[b_stop], pa[a_stop]
    del pb, pa
    if traded.shape[0] == 0:
        return _nothing(nb, na, reserve)
    b_pos: I64 | None = None
    a_pos: I64 | None = None
    if one:
        n_sel = int(b_stop[0]) + 1
        points = np.concatenate((b_end[:n_sel], a_end[: int(a_stop[0]) + 1]))
        points[n_sel - 1] = points[-1] = cleared_to[0]
    else:
        b_pos = _ranges(b_cut[traded], b_stop + 1)
        a_pos = _ranges(a_cut[traded], a_stop + 1)
        n_sel = b_pos.shape[0]
        points = np.concatenate((b_end[b_pos], a_end[a_pos]))
        points[np.cumsum(b_stop + 1 - b_cut[traded]) - 1] = cleared_to[traded]
        points[n_sel + np.cumsum(a_stop + 1 - a_cut[traded]) - 1] = cleared_to[traded]
    del b_end, a_end

    # Merge both sides' breakpoints (two sorted runs: a linear merge). A segment ends at each distinct
    # point; its bid is the one after every bid end strictly before that point, and likewise its ask.
    # Each side's points keep their order in the merge, so at a point of bid k (first of its value: bids
    # come first among equals) k bid ends precede it, and at merged position j a point of ask k has
    # j - k bid ends before it.
    perm = np.argsort(points, kind="stable")
    merged = points[perm]
    del points
    distinct = np.empty(merged.shape[0], dtype=np.bool_)
    distinct[0] = True
    np.not_equal(merged[1:], merged[:-1], out=distinct[1:])
    at = np.flatnonzero(distinct)
    del distinct
    t_end = merged[at]
    del merged
    source = perm[at]
    del perm
    t_bi = np.where(source < n_sel, source, at - source + n_sel)
    del source
    t_ai = at - t_bi
    del at
    if b_pos is not None and a_pos is not None:
        t_bi, t_ai = b_pos[t_bi], a_pos[t_ai]  # sorted positions
    if one:
        energy = np.diff(t_end, prepend=0)
        t_group = np.zeros(t_end.shape[0], dtype=np.int64)
        if int(energy[0]) == 0:  # orders of energy 0 ranked first leave an empty segment
            t_bi, t_ai, energy, t_group = t_bi[1:], t_ai[1:], energy[1:], t_group[1:]
    else:
        t_start = np.empty_like(t_end)
        t_start[1:] = t_end[:-1]
        t_group = gb[t_bi]
        new_group = np.flatnonzero(t_group[1:] != t_group[:-1]) + 1
        t_start[0] = base[t_group[0]]
        t_start[new_group] = base[t_group[new_group]]
        energy = t_end - t_start
        nonzero = np.flatnonzero(energy)  # orders of energy 0 ranked first in a group: an empty segment
        if nonzero.shape[0] != energy.shape[0]:
            t_bi, t_ai, energy, t_group = t_bi[nonzero], t_ai[nonzero], energy[nonzero], t_group[nonzero]

    bid_filled = ask_filled = None
    if fills:  # per order, exact in float64: every sum is below an order's energy (< 2**31)
        bid_filled = np.bincount(ob[t_bi], weights=energy, minlength=nb).astype(np.int64)
        ask_filled = np.bincount(oa[t_ai], weights=energy, minlength=na).astype(np.int64)
    # The results go to the caller: allocated once at their final size (fresh memory costs page faults).
    bid_out = np.empty(reserve + t_bi.shape[0], dtype=np.int64)
    np.take(ob, t_bi, out=bid_out[reserve:])
    ask_out = np.empty(reserve + t_ai.shape[0], dtype=np.int64)
    np.take(oa, t_ai, out=ask_out[reserve:])
    if reserve:
        energy = np.concatenate((np.empty(reserve, dtype=np.int64), energy))
    return _Matched(
        bid_out,
        ask_out,
        energy,
        t_group,
        traded,
        marginal_bid_price,
        marginal_ask_price,
        bid_filled,
        ask_filled,
    )


def _nothing(nb: int, na: int, reserve: int) -> _Matched:
    slots = np.empty(reserve, dtype=np.int64) if reserve else _EMPTY
    zb, za = np.zeros(nb, dtype=np.int64), np.zeros(na, dtype=np.int64)
    return _Matched(slots, slots.copy(), slots.copy(), _EMPTY, _EMPTY, _EMPTY, _EMPTY, zb, za)


def _ranges(starts: I64, stops: I64) -> I64:
    """The concatenation of arange(start, stop) over the pairs (each stop > start)."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return _EMPTY
    step = np.ones(total, dtype=np.int64)
    heads = np.cumsum(lengths)[:-1]
    step[0] = starts[0]
    step[heads] = starts[1:] - stops[:-1] + 1
    out: I64 = np.cumsum(step)
    return out


def concat(arrays: list[I64]) -> I64:
    return np.concatenate(arrays) if len(arrays) != 1 else arrays[0]
