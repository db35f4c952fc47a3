"""Health and API description (public)."""

from __future__ import annotations

from gridshare.contexts import import_all_routes
from gridshare.http.api import ApiBlueprint

api = ApiBlueprint("platform")


@api.route("/health", "GET", roles=None, response="Health", summary="Liveness")
def health() -> dict:
    return {"status": "ok"}


@api.route("/v1/openapi.json", "GET", roles=None, response="OpenApiDocument", summary="This API's OpenAPI 3.1 document")
def openapi() -> dict:
    # The platform Lambda holds only its own routes; the document describes every context's. Imported
    # here: the document's builder and every context's routes are no part of a /health cold start.
    from gridshare.http.openapi import build_openapi

    import_all_routes()
    return build_openapi()
