"""Access-token times (exp, iat, nbf) are checked on the kernel clock, so they follow the local stack's
clock (`gridshare clock advance`) and a frozen test clock, with the same leeway PyJWT would allow."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import jwt
import moto.cognitoidp
import pytest
from jwt.algorithms import RSAAlgorithm

from gridshare.http.auth import CLOCK_SKEW_S, verify_access_token
from gridshare.kernel import clock
from gridshare.kernel.errors import AuthenticationFailed
from gridshare.kernel.settings import Settings

KEYS = Path(moto.cognitoidp.__file__).parent / "resources"
POOL, CLIENT = "us-east-1_clocktest", "client-1"
T0 = 1_800_000_000  # seconds


@pytest.fixture(scope="module")
def key() -> Any:
    with gzip.open(KEYS / "jwks-private.json.gz", "rt") as handle:
        document = json.load(handle)
    return RSAAlgorithm.from_jwk(json.dumps(document["keys"][0] if "keys" in document else document))


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(user_pool_id=POOL, user_pool_client_id=CLIENT, jwks_url=f"file://{KEYS / 'jwks-public.json.gz'}")


def token(key: Any, **times: Any) -> str:
    claims = {
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}",
        "sub": "user-1",
        "username": "user-1",
        "client_id": CLIENT,
        "token_use": "access",
        "iat": T0,
        "exp": T0 + 3600,
        "jti": "j",
        **times,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


def test_a_token_is_valid_from_iat_to_exp_on_the_kernel_clock(key: Any, settings: Settings) -> None:
    valid = token(key)
    with clock.frozen(T0 * 1000) as frozen:
        assert verify_access_token(valid, settings).issued_at == T0
        frozen.advance(3599)
        verify_access_token(valid, settings)
        frozen.advance(1 + CLOCK_SKEW_S)  # exp + leeway
        with pytest.raises(AuthenticationFailed, match="expired"):
            verify_access_token(valid, settings)


def test_a_token_from_the_future_is_refused_beyond_the_leeway(key: Any, settings: Settings) -> None:
    with clock.frozen((T0 - CLOCK_SKEW_S) * 1000) as frozen:
        verify_access_token(token(key), settings)  # within the leeway
        frozen.set((T0 - CLOCK_SKEW_S - 1) * 1000)
        with pytest.raises(AuthenticationFailed, match="not valid"):
            verify_access_token(token(key), settings)
        with pytest.raises(AuthenticationFailed, match="not valid"):
            verify_access_token(token(key, iat=T0 - 60, nbf=T0 + 60), settings)


@pytest.mark.parametrize("claims", [{"exp": "soon"}, {"iat": None}, {"exp": True}, {"nbf": "x"}])
def test_times_that_are_not_numbers_are_refused(key: Any, settings: Settings, claims: dict[str, Any]) -> None:
    with clock.frozen(T0 * 1000), pytest.raises(AuthenticationFailed):
        verify_access_token(token(key, **claims), settings)


def test_missing_times_are_refused(key: Any, settings: Settings) -> None:
    claims = jwt.decode(token(key), options={"verify_signature": False})
    del claims["exp"]
    without_exp = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})
    with clock.frozen(T0 * 1000), pytest.raises(AuthenticationFailed, match="not valid"):
        verify_access_token(without_exp, settings)
