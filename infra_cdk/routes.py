"""The API's routes as the code declares them (gridshare.http.api.ROUTES), for the CDK API.

ROUTES fills in as context modules are imported; building the whole app once imports every one of
them, exactly as the local stack does, so API Gateway gets the same paths Chalice routes on.
"""

from __future__ import annotations

from functools import cache

from gridshare.app_factory import make_app
from gridshare.contexts import CONTEXTS
from gridshare.http.api import ROUTES, RouteSpec


@cache
def deployed_routes() -> tuple[RouteSpec, ...]:
    """Every route a deployment serves: local-only routes (the local stack's outbox) are left out."""
    make_app("gridshare")
    seen: dict[tuple[str, str], RouteSpec] = {}
    for spec in ROUTES:
        if spec.local_only:
            continue
        key = (spec.method.upper(), spec.path)
        if key in seen and seen[key].context != spec.context:
            raise ValueError(f"{key[0]} {key[1]} is declared by both {seen[key].context} and {spec.context}")
        seen[key] = spec
    return tuple(seen.values())


def api_contexts() -> tuple[str, ...]:
    """Contexts whose Lambda serves API routes, in CONTEXTS order."""
    with_routes = {spec.context for spec in deployed_routes()}
    return tuple(context for context in CONTEXTS if context in with_routes)


def has_protected_routes(context: str) -> bool:
    """True if the context's Lambda re-verifies access tokens (it then needs the user pool's ids)."""
    return any(spec.protected for spec in deployed_routes() if spec.context == context)


def api_handler(context: str) -> str:
    """The Lambda handler of a context's routes: the Chalice app in functions/<context>/lambda_app.py.

    A Chalice app object is itself an API Gateway proxy handler; it routes on the resource path.
    """
    return f"functions.{context}.lambda_app.app"
