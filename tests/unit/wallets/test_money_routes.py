"""Money routes are idempotent: generated from the route table, so a new one cannot be forgotten."""

from __future__ import annotations

import pytest

from gridshare.app_factory import make_app
from gridshare.http.api import ROUTES, ApiBlueprint


def test_every_authenticated_post_of_the_wallets_takes_an_idempotency_key() -> None:
    # Given every route of the wallets context (a POST there moves money; the Stripe webhook is public and
    # deduplicated by event id instead)
    make_app("money-routes")
    posts = [s for s in ROUTES if s.context == "wallets" and s.method == "POST" and s.protected]
    # Then each one honours an Idempotency-Key
    assert posts
    assert [f"{s.method} {s.path}" for s in posts if not s.idempotent] == []


def test_a_public_route_cannot_be_idempotent() -> None:
    # A key is scoped to the caller: without a token there is no caller to scope it to
    with pytest.raises(ValueError, match="needs roles"):
        ApiBlueprint("wallets").route("/v1/anything", "POST", roles=None, summary="x", idempotent=True)
