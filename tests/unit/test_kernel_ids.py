"""gridshare.kernel.ids against the python-ulid package (the reference; a test dependency only)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from gridshare.kernel import clock, ids

T0_MS = 1_718_000_000_000
ALPHABET = ids.CROCKFORD + ids.CROCKFORD.lower()


@given(st.integers(min_value=0, max_value=ids.MAX))
def test_encoding_matches_the_reference(value: int) -> None:
    text = ids.from_int(value)
    assert text == str(ULID.from_int(value))
    assert ids.to_int(text) == value
    assert ids.to_int(text.lower()) == value
    assert ids.is_id(text)


@given(st.integers(min_value=0, max_value=ids.MAX_MS), st.binary(min_size=10, max_size=10))
def test_parts_match_the_reference(ms: int, randomness: bytes) -> None:
    text = ids.from_parts(ms, randomness)
    assert text == str(ULID.from_bytes(ms.to_bytes(6, "big") + randomness))
    assert ids.milliseconds(text) == ms == ULID.from_str(text).milliseconds


def _reference_accepts(text: str) -> bool:
    try:
        ULID.from_str(text)
    except ValueError:
        return False
    return True


@given(
    st.one_of(
        st.text(alphabet=ALPHABET, min_size=24, max_size=28),
        st.text(min_size=26, max_size=26),
        st.text(alphabet=ALPHABET + "ILOU-_=\n ſı", min_size=26, max_size=26),
        st.builds(lambda s: s[:-1] + "\n", st.text(alphabet=ALPHABET, min_size=26, max_size=26)),
    )
)
def test_validation_matches_the_reference(text: str) -> None:
    """Either case, Crockford's alphabet only (no I, L, O, U; no look-alikes that upper-case into it), 26
    characters, the first 0-7 (130 bits hold 128)."""
    accepted = _reference_accepts(text)
    assert ids.is_id(text) is accepted
    if accepted:
        assert ids.to_int(text) == int(ULID.from_str(text))
    else:
        with pytest.raises(ValueError):
            ids.to_int(text)


@pytest.mark.parametrize("bad", [None, 7, b"01J2Z8K6M4P3R7T9V1W5X0Y2Z3", "8" + "0" * 25, "0" * 25])
def test_not_an_id(bad: object) -> None:
    assert ids.is_id(bad) is False  # type: ignore[arg-type]


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError):
        ids.from_int(ids.MAX + 1)
    with pytest.raises(ValueError):
        ids.from_int(-1)
    with pytest.raises(ValueError):
        ids.from_bytes(b"\x00" * 15)
    with pytest.raises(OverflowError):
        ids.from_parts(ids.MAX_MS + 1, b"\x00" * 10)


def test_new_ids_take_the_kernel_clock_and_increase_within_a_millisecond() -> None:
    with clock.frozen(T0_MS):
        made = [ids.new_id() for _ in range(50)]
    assert {ids.milliseconds(i) for i in made} == {T0_MS}
    assert made == sorted(made)
    assert len(set(made)) == 50
    assert all(ids.to_int(b) == ids.to_int(a) + 1 for a, b in zip(made, made[1:], strict=False))
    with clock.frozen(T0_MS + 1):
        later = ids.new_id()
    assert later > made[-1]
    assert all(c in string.digits + string.ascii_uppercase for c in later)
