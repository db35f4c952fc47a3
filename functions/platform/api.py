"""Health and API description (public)."""

from __future__ import annotations

from gridshare.http.api import ApiBlueprint
from gridshare.http.openapi import build_openapi

api = ApiBlueprint("platform")


@api.route("/health", "GET", roles=None, summary="Liveness")
def health() -> dict:
    return {"status": "ok"}


@api.route("/v1/openapi.json", "GET", roles=None, summary="This API's OpenAPI 3.1 document")
def openapi() -> dict:
    return build_openapi()
