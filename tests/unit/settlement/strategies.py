"""Hypothesis strategies: random but valid settlement intervals (sites, investors, communities, trades)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from gridshare.settlement.rules import Community, IntervalInput, Site, Tariffs, Trade

USERS = ("u-a", "u-b", "u-c", "u-d")
INVESTORS = ("inv-1", "inv-2", "inv-3")
AT = 1_796_292_000_000


@st.composite
def communities(draw: st.DrawFn, members: dict[str, list[str]]) -> tuple[Community, ...]:
    out = []
    for cid, sites in sorted(members.items()):
        rule = draw(st.sampled_from(("pro_rata", "static", "priority")))
        coefficients: dict[str, Fraction] = {}
        priority: tuple[str, ...] = ()
        if rule == "static":
            weights = draw(st.lists(st.integers(0, 5), min_size=len(sites), max_size=len(sites)))
            if sum(weights) == 0:
                weights[0] = 1
            coefficients = {s: Fraction(w, sum(weights)) for s, w in zip(sites, weights, strict=True)}
        elif rule == "priority":
            priority = tuple(draw(st.permutations(sites)))
        out.append(Community(cid, draw(st.integers(0, 40)), rule, coefficients, priority))
    return tuple(out)


@st.composite
def intervals(draw: st.DrawFn, *, max_sites: int = 6, max_trades: int = 8) -> IntervalInput:
    n = draw(st.integers(2, max_sites))
    sites: list[Site] = []
    members: dict[str, list[str]] = {}
    for i in range(n):
        sid = f"s{i}"
        shares = draw(st.dictionaries(st.sampled_from(INVESTORS), st.integers(1, 5), max_size=3))
        community = draw(st.sampled_from((None, "c-1", "c-2")))
        if community:
            members.setdefault(community, []).append(sid)
        sites.append(
            Site(
                sid,
                draw(st.sampled_from(USERS)),
                draw(st.integers(0, 10_000)),
                draw(st.integers(0, 10_000)),
                draw(st.integers(0, 20)),
                shares,
                draw(st.sampled_from(("host", "pool"))),
                community,
            )
        )
    trades: list[Trade] = []
    for k in range(draw(st.integers(0, max_trades))):
        b, s = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
        trades.append(
            Trade(
                f"t{k:02d}",
                f"b{k}",
                f"a{k}",
                sites[b].host_id,
                sites[b].id,
                sites[s].host_id,
                sites[s].id,
                draw(st.integers(1, 5_000)),
                draw(st.integers(0, 60)),
                draw(st.integers(0, 10)),
            )
        )
    tariffs = Tariffs("EUR", draw(st.integers(0, 50)), draw(st.integers(0, 30)))
    return IntervalInput(AT, tariffs, tuple(sites), tuple(trades), draw(communities(members)))
