"""Shards of a run: connected components of sites linked by trades and communities, packed by size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gridshare.settlement.shards import components, pack, shards

SITES = [f"s{n:02d}" for n in range(30)]


def test_trades_and_communities_join_sites_into_components() -> None:
    # Given sites a..f, a trade a-b, a trade c-b, and a community of d and e
    parts = components("abcdef", [("a", "b"), ("c", "b")], {"c1": ["d", "e"]})
    # Then a, b, c are one component, d and e another, f alone
    assert parts == [["a", "b", "c"], ["d", "e"], ["f"]]


def test_components_are_packed_largest_first_and_never_split() -> None:
    parts = [["a", "b", "c"], ["d", "e"], ["f"], ["g", "h", "i", "j", "k"]]
    assert pack(parts, 4) == [["g", "h", "i", "j", "k"], ["a", "b", "c", "f"], ["d", "e"]]
    assert pack(parts, 100) == [sorted("abcdefghijk")]
    assert pack([], 3) == []


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]], dict[str, list[str]], int]:
    sites = draw(st.lists(st.sampled_from(SITES), unique=True, min_size=1))
    pairs = st.tuples(st.sampled_from(sites), st.sampled_from(sites))
    links = draw(st.lists(pairs, max_size=20))
    groups = draw(st.dictionaries(st.sampled_from(["c1", "c2", "c3"]), st.lists(st.sampled_from(sites), max_size=6)))
    return sites, links, groups, draw(st.integers(1, 12))


@given(graphs())
def test_every_site_is_in_exactly_one_shard_with_everything_it_settles_with(
    graph: tuple[list[str], list[tuple[str, str]], dict[str, list[str]], int],
) -> None:
    sites, links, groups, max_sites = graph
    made = shards(sites, links, groups, max_sites)
    where = {site: n for n, shard in enumerate(made) for site in shard}
    # every site exactly once
    assert sorted(where) == sorted(sites) and sum(len(s) for s in made) == len(sites)
    # a trade's two sites, and a community's members, share a shard
    assert all(where[a] == where[b] for a, b in links)
    assert all(len({where[m] for m in members}) <= 1 for members in groups.values())
    # a shard above the bound is one component alone
    for shard in made:
        if len(shard) > max_sites:
            assert shard in components(sites, links, groups)
    # deterministic
    assert shards(list(reversed(sites)), links, groups, max_sites) == made
