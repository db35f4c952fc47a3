"""Shards of a settlement run: groups of sites that can be settled apart. Pure (stdlib only).

Two sites must be settled in the same shard when one interval's postings of one depend on the other: a
trade between them (delivery, payment, credits moved, the buyer's burn) or a community they are both
members of (the sharing allocation runs over every member). So the shards are built from the connected
components of the graph whose nodes are the sites and whose edges are the run's trades (buyer site --
seller site) and community memberships (every member -- its community). Components are packed, largest
first, into shards of at most ``max_sites`` sites (first fit); a component larger than ``max_sites`` is a
shard of its own (it cannot be split). Sites, components and shards come out in a deterministic order, so
the same inputs give the same manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["components", "pack", "shards"]


def components(
    sites: Iterable[str], links: Iterable[tuple[str, str]], groups: Mapping[str, Iterable[str]]
) -> list[list[str]]:
    """Connected components of ``sites`` linked by ``links`` (site pairs) and ``groups`` (group -> member
    sites; every member of a group is in one component). Each component sorted; components ordered by their
    smallest site. Sites named only by a link or a group are included."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for site in sites:
        find(site)
    for a, b in links:
        union(a, b)
    for members in groups.values():
        first: str | None = None
        for member in members:
            find(member)
            if first is None:
                first = member
            else:
                union(first, member)
    by_root: dict[str, list[str]] = {}
    for site in parent:
        by_root.setdefault(find(site), []).append(site)
    return sorted((sorted(c) for c in by_root.values()), key=lambda c: c[0])


def pack(parts: Iterable[list[str]], max_sites: int) -> list[list[str]]:
    """Components packed into shards of at most ``max_sites`` sites, largest component first (first fit);
    a component above ``max_sites`` is a shard alone. Each shard's sites sorted."""
    if max_sites < 1:
        raise ValueError("max_sites must be at least 1")
    bins: list[list[str]] = []
    for part in sorted(parts, key=lambda c: (-len(c), c[0] if c else "")):
        for shard in bins:
            if len(shard) + len(part) <= max_sites:
                shard.extend(part)
                break
        else:
            bins.append(list(part))
    return [sorted(b) for b in bins if b]


def shards(
    sites: Iterable[str],
    links: Iterable[tuple[str, str]],
    groups: Mapping[str, Iterable[str]],
    max_sites: int,
) -> list[list[str]]:
    """The run's shards: :func:`components` packed by :func:`pack`."""
    return pack(components(sites, links, groups), max_sites)
