"""How a community's surplus is shared among its members' deficits in one interval. Pure and exact.

Context-free on purpose: settlement imports it to bill what the energy route reports. Everything is in
integer Wh; the arithmetic is exact (integers and :class:`fractions.Fraction`), and every split of an
integer amount into integer parts uses the largest-remainder method with ties broken by position (the
caller's member order), so the same inputs always give the same parts.

Per member: ``surplus = max(0, production - consumption)``, ``deficit = max(0, consumption - production)``
(what a member produces it uses itself first). The **pool** is ``min(sum surplus, sum deficit)``.

Rules (what each member in deficit receives, ``shared_in``):

- ``pro_rata``: the pool split in proportion to the deficits;
- ``static``: the pool split by the members' fixed coefficients (exact fractions summing to 1), each part
  capped at the member's deficit; what a cap leaves over is **not redistributed**: it goes to the grid
  (the "static key" of EU energy-community practice). ``shared`` can then be less than the pool;
- ``priority``: deficits filled whole in the members' priority order until the pool runs out.

What each member in surplus gives (``shared_out``): the total received, split in proportion to the
surpluses. Invariants (tests/unit/communities/test_allocation.py, hypothesis):
``sum shared_out == sum shared_in == shared <= pool``; ``shared == pool`` for pro_rata and priority;
``shared_in <= deficit`` and ``shared_out <= surplus`` for every member; under ``static`` a member not
capped receives the largest-remainder part of ``pool * coefficient`` (within 1 Wh of it, exact when whole).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Rule = Literal["pro_rata", "static", "priority"]
RULES: tuple[Rule, ...] = ("pro_rata", "static", "priority")

__all__ = [
    "RULES",
    "Allocation",
    "IntervalAllocation",
    "MemberEnergy",
    "Rule",
    "allocate",
    "coefficients_complete",
    "split",
]


@dataclass(frozen=True)
class MemberEnergy:
    """One member in one interval: Wh produced and consumed (both >= 0)."""

    member_id: str
    production: int
    consumption: int

    @property
    def surplus(self) -> int:
        return max(0, self.production - self.consumption)

    @property
    def deficit(self) -> int:
        return max(0, self.consumption - self.production)

    @property
    def self_consumed(self) -> int:
        return min(self.production, self.consumption)


@dataclass(frozen=True)
class Allocation:
    member_id: str
    production: int
    consumption: int
    surplus: int
    deficit: int
    shared_in: int
    shared_out: int


@dataclass(frozen=True)
class IntervalAllocation:
    pool: int
    shared: int
    members: tuple[Allocation, ...]

    @property
    def production(self) -> int:
        return sum(m.production for m in self.members)

    @property
    def consumption(self) -> int:
        return sum(m.consumption for m in self.members)

    @property
    def self_consumed(self) -> int:
        return sum(min(m.production, m.consumption) for m in self.members)


def split(total: int, weights: Sequence[Fraction | int]) -> list[int]:
    """``total`` (>= 0) in integer parts proportional to ``weights`` (>= 0), summing to ``total``
    (largest remainder; ties to the earlier position). All-zero weights: all parts 0 unless total is 0."""
    if total < 0:
        raise ValueError("total must be >= 0")
    weight_sum = sum((Fraction(w) for w in weights), Fraction(0))
    if weight_sum == 0:
        if total:
            raise ValueError("cannot split a positive total by zero weights")
        return [0] * len(weights)
    exact = [Fraction(total) * Fraction(w) / weight_sum for w in weights]
    parts = [int(x) for x in exact]  # floor: all >= 0
    left = total - sum(parts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def coefficients_complete(coefficients: Mapping[str, Fraction]) -> bool:
    """Whether static coefficients are usable: each in [0, 1] and summing to exactly 1."""
    return all(0 <= c <= 1 for c in coefficients.values()) and sum(coefficients.values(), Fraction(0)) == 1


def _received(
    members: Sequence[MemberEnergy],
    pool: int,
    rule: Rule,
    coefficients: Mapping[str, Fraction],
    priority: Sequence[str],
) -> list[int]:
    deficits = [m.deficit for m in members]
    if pool == 0:
        return [0] * len(members)
    if rule == "pro_rata":
        return split(pool, deficits)
    if rule == "static":
        if not coefficients_complete(coefficients):
            raise ValueError("static coefficients must each be in [0, 1] and sum to exactly 1")
        parts = split(pool, [coefficients.get(m.member_id, Fraction(0)) for m in members])
        return [min(part, deficit) for part, deficit in zip(parts, deficits, strict=True)]
    rank = {member_id: n for n, member_id in enumerate(priority)}
    order = sorted(range(len(members)), key=lambda i: (rank.get(members[i].member_id, len(rank)), i))
    out, left = [0] * len(members), pool
    for i in order:
        out[i] = min(deficits[i], left)
        left -= out[i]
    return out


def allocate(
    members: Sequence[MemberEnergy],
    rule: Rule,
    *,
    coefficients: Mapping[str, Fraction] | None = None,
    priority: Sequence[str] = (),
) -> IntervalAllocation:
    """Share one interval's surplus (see the module docstring). ``coefficients``: member id -> exact share
    (static; a member without one has 0); ``priority``: member ids, first served first (priority; members
    not named come after, in the given order)."""
    for m in members:
        if m.production < 0 or m.consumption < 0:
            raise ValueError("energy must be >= 0 Wh")
    pool = min(sum(m.surplus for m in members), sum(m.deficit for m in members))
    received = _received(members, pool, rule, coefficients or {}, priority)
    shared = sum(received)
    given = split(shared, [m.surplus for m in members]) if shared else [0] * len(members)
    return IntervalAllocation(
        pool=pool,
        shared=shared,
        members=tuple(
            Allocation(m.member_id, m.production, m.consumption, m.surplus, m.deficit, r, g)
            for m, r, g in zip(members, received, given, strict=True)
        ),
    )
