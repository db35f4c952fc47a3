"""The sharing rules' invariants (hypothesis): conservation, nobody over its deficit or surplus, static
coefficients exact, priority order; and a few worked examples."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.communities.allocation import (
    RULES,
    IntervalAllocation,
    MemberEnergy,
    allocate,
    coefficients_complete,
    split,
)

WH = st.integers(min_value=0, max_value=10_000_000)


@st.composite
def members(draw: st.DrawFn, min_size: int = 1) -> list[MemberEnergy]:
    count = draw(st.integers(min_value=min_size, max_value=12))
    return [MemberEnergy(f"m{n:02d}", draw(WH), draw(WH)) for n in range(count)]


@st.composite
def coefficients(draw: st.DrawFn, ids: list[str]) -> dict[str, Fraction]:
    """Exact coefficients summing to 1: integer weights over their sum (some may be 0)."""
    weights = draw(st.lists(st.integers(min_value=0, max_value=1_000), min_size=len(ids), max_size=len(ids)))
    if sum(weights) == 0:
        weights[0] = 1
    total = sum(weights)
    return {member_id: Fraction(w, total) for member_id, w in zip(ids, weights, strict=True)}


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[MemberEnergy], str, dict[str, Fraction], list[str]]:
    group = draw(members())
    ids = [m.member_id for m in group]
    rule = draw(st.sampled_from(RULES))
    return group, rule, draw(coefficients(ids)), draw(st.permutations(ids))


def _check_invariants(group: list[MemberEnergy], result: IntervalAllocation) -> None:
    surplus = sum(m.surplus for m in group)
    deficit = sum(m.deficit for m in group)
    assert result.pool == min(surplus, deficit)
    assert sum(a.shared_in for a in result.members) == sum(a.shared_out for a in result.members) == result.shared
    assert 0 <= result.shared <= result.pool
    for given_member, a in zip(group, result.members, strict=True):
        assert a.member_id == given_member.member_id
        assert 0 <= a.shared_in <= a.deficit
        assert 0 <= a.shared_out <= a.surplus
        assert not (a.shared_in and a.shared_out)  # a member is on one side only


@settings(max_examples=400, deadline=None)
@given(cases())
def test_every_rule_conserves_energy_and_keeps_each_member_within_its_deficit_and_surplus(
    case: tuple[list[MemberEnergy], str, dict[str, Fraction], list[str]],
) -> None:
    group, rule, coefficients_, order = case
    result = allocate(group, rule, coefficients=coefficients_, priority=order)  # type: ignore[arg-type]
    _check_invariants(group, result)
    if rule != "static":
        assert result.shared == result.pool  # pro rata and priority share the whole pool


@settings(max_examples=300, deadline=None)
@given(members(), st.data())
def test_static_coefficients_are_exact_for_members_below_their_cap(
    group: list[MemberEnergy], data: st.DataObject
) -> None:
    coefficients_ = data.draw(coefficients([m.member_id for m in group]))
    result = allocate(group, "static", coefficients=coefficients_)
    _check_invariants(group, result)
    for a in result.members:
        exact = result.pool * coefficients_[a.member_id]
        if a.shared_in < a.deficit:  # not capped: its largest-remainder part of pool x coefficient
            assert abs(a.shared_in - exact) < 1
            if exact.denominator == 1:
                assert a.shared_in == exact
        else:  # capped at its deficit: never more than its share rounded up
            assert a.shared_in <= exact + 1


@settings(max_examples=300, deadline=None)
@given(members(), st.data())
def test_pro_rata_gives_each_deficit_its_proportion_within_one_wh(
    group: list[MemberEnergy], data: st.DataObject
) -> None:
    result = allocate(group, "pro_rata")
    deficit = sum(m.deficit for m in group)
    surplus = sum(m.surplus for m in group)
    for a in result.members:
        if deficit:
            assert abs(a.shared_in - Fraction(result.pool * a.deficit, deficit)) < 1
        if surplus:
            assert abs(a.shared_out - Fraction(result.shared * a.surplus, surplus)) < 1


@settings(max_examples=300, deadline=None)
@given(members(), st.data())
def test_priority_fills_deficits_whole_in_order(group: list[MemberEnergy], data: st.DataObject) -> None:
    order = data.draw(st.permutations([m.member_id for m in group]))
    result = allocate(group, "priority", priority=order)
    by_id = {a.member_id: a for a in result.members}
    served = [by_id[member_id] for member_id in order]
    partial = [a for a in served if a.deficit and a.shared_in < a.deficit]
    if partial:  # the first not filled whole got what was left, and those after it nothing
        first = served.index(partial[0])
        assert all(a.shared_in == 0 for a in served[first + 1 :])
        assert all(a.shared_in == a.deficit for a in served[:first])


@given(st.integers(min_value=0, max_value=10**9), st.lists(st.integers(min_value=0, max_value=10**6), min_size=1))
def test_split_sums_to_the_total_and_each_part_is_within_one_of_its_share(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        if total:
            with pytest.raises(ValueError):
                split(total, weights)
        return
    parts = split(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - Fraction(total * weight, sum(weights))) < 1
        if weight == 0:
            assert part == 0


def test_a_worked_pro_rata_example() -> None:
    group = [MemberEnergy("a", 1_000, 0), MemberEnergy("b", 0, 300), MemberEnergy("c", 0, 600)]
    result = allocate(group, "pro_rata")
    assert result.pool == result.shared == 900
    assert [(a.shared_out, a.shared_in) for a in result.members] == [(900, 0), (0, 300), (0, 600)]


def test_static_leaves_what_a_cap_frees_to_the_grid() -> None:
    group = [MemberEnergy("a", 1_000, 0), MemberEnergy("b", 0, 100), MemberEnergy("c", 0, 900)]
    shares = {"a": Fraction(0), "b": Fraction(1, 2), "c": Fraction(1, 2)}
    result = allocate(group, "static", coefficients=shares)
    assert result.pool == 1_000
    assert [a.shared_in for a in result.members] == [0, 100, 500]  # b capped at 100; its other 400 to the grid
    assert result.shared == 600 == result.members[0].shared_out


def test_static_refuses_coefficients_that_do_not_sum_to_one() -> None:
    assert coefficients_complete({"a": Fraction(1, 3), "b": Fraction(2, 3)})
    assert not coefficients_complete({"a": Fraction(1, 3), "b": Fraction(1, 3)})
    with pytest.raises(ValueError):
        allocate([MemberEnergy("a", 10, 0), MemberEnergy("b", 0, 10)], "static", coefficients={"a": Fraction(1, 2)})


def test_priority_serves_the_first_named_first() -> None:
    group = [MemberEnergy("a", 500, 0), MemberEnergy("b", 0, 400), MemberEnergy("c", 0, 400)]
    result = allocate(group, "priority", priority=["c", "b"])
    assert [a.shared_in for a in result.members] == [0, 100, 400]
