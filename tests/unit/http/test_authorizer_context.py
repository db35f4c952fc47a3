"""The caller the TOKEN authorizer verified, as the route guard reads it back from API Gateway's
`requestContext.authorizer` (gridshare.http.bearer, decision 0030): exactly what the authorizer returned,
or None (full verification) for anything absent, incomplete or contradictory."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.http.bearer import CLOCK_SKEW_S, authorized_caller, check_not_expired
from gridshare.kernel import clock
from gridshare.kernel.errors import AuthenticationFailed
from gridshare.kernel.roles import ROLE_ORDER, Caller, role_of

CALLER = Caller(
    user_id="01J2Z8K6M4P3R7T9V1W5X0Y2QA",
    sub="5f3c9a2e-7b41-4d8e-9c16-2a0b8e4d7f13",
    role="prosumer",
    groups=("prosumer",),
    issued_at=1_800_000_000,
    token_id="0c1d7e3a",
    expires_at=1_800_003_600,
)


def handed_over(caller: Caller) -> dict[str, Any]:
    """`requestContext.authorizer` as API Gateway builds it from the authorizer's answer."""
    return {"principalId": caller.user_id, **caller.as_context(), "integrationLatency": 38}


def test_the_authorizers_caller_comes_back_whole() -> None:
    assert authorized_caller(handed_over(CALLER)) == CALLER


@given(
    groups=st.lists(st.sampled_from([*ROLE_ORDER, "beta-testers"]), unique=True, max_size=4),
    issued_at=st.integers(0, 10**11),
    lifetime=st.integers(1, 86_400),
    token_id=st.text(st.characters(codec="ascii"), max_size=40),
)
def test_any_caller_the_authorizer_returns_comes_back_whole(
    groups: list[str], issued_at: int, lifetime: int, token_id: str
) -> None:
    caller = Caller("u-1", "s-1", role_of(groups), tuple(groups), issued_at, token_id, issued_at + lifetime)
    assert authorized_caller(handed_over(caller)) == caller


@pytest.mark.parametrize("missing", ["principalId", "userId", "sub", "role", "groups", "iat", "exp", "jti"])
def test_a_context_missing_anything_is_not_taken(missing: str) -> None:
    context = handed_over(CALLER)
    del context[missing]
    assert authorized_caller(context) is None


@pytest.mark.parametrize(
    "change",
    [
        {"principalId": "someone-else"},
        {"userId": ""},
        {"sub": ""},
        {"role": "admin"},  # not the role of its groups
        {"role": "root", "groups": "root"},
        {"iat": "1.8e9"},
        {"iat": "-1"},
        {"exp": " 1800003600"},
        {"exp": "1800003600000000"},
        {"exp": 1_800_003_600},  # API Gateway hands over the strings the authorizer returned
        {"jti": None},
    ],
)
def test_a_contradictory_or_malformed_context_is_not_taken(change: dict[str, Any]) -> None:
    assert authorized_caller({**handed_over(CALLER), **change}) is None


@pytest.mark.parametrize("context", [None, "", [], "principalId=x", {"claims": {"sub": "x"}}])
def test_no_context_is_no_caller(context: Any) -> None:
    assert authorized_caller(context) is None


def test_the_expiry_is_checked_on_the_kernel_clock_with_the_leeway() -> None:
    expires_at = CALLER.expires_at
    assert expires_at is not None
    with clock.frozen((expires_at + CLOCK_SKEW_S - 1) * 1000) as frozen:
        check_not_expired(expires_at)
        frozen.advance(1)
        with pytest.raises(AuthenticationFailed, match="expired"):
            check_not_expired(expires_at)
