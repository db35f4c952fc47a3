"""The OpenAPI document covers every route and the committed copy is current."""

from __future__ import annotations

import json
from pathlib import Path

from gridshare.app_factory import make_app
from gridshare.http.openapi import build_openapi

DOCS = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_every_route_is_documented() -> None:
    app = make_app("spec-check")
    spec = build_openapi()
    for path, methods in app.routes.items():
        for method in methods:
            assert method.lower() in spec["paths"].get(path, {}), f"{method} {path} missing from OpenAPI"


def test_the_committed_document_is_current() -> None:
    make_app("spec-check")
    assert json.loads(DOCS.read_text()) == build_openapi(), "run `make openapi` and commit docs/openapi.json"


def test_protected_routes_declare_bearer_auth_and_roles() -> None:
    make_app("spec-check")
    spec = build_openapi()
    me = spec["paths"]["/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}] and "consumer" in me["x-gridshare-roles"]
    assert "security" not in spec["paths"]["/v1/auth/login"]["post"]
    assert spec["paths"]["/v1/telemetry/dead-letters"]["get"]["x-gridshare-roles"] == ["admin"]


def test_idempotent_routes_declare_the_idempotency_key_header_and_the_replay_header() -> None:
    make_app("spec-check")
    spec = build_openapi()
    topup = spec["paths"]["/v1/wallet/topups"]["post"]
    (header,) = [p for p in topup["parameters"] if p["in"] == "header"]
    assert (header["name"], header["required"]) == ("Idempotency-Key", False)
    assert "Idempotent-Replayed" in topup["responses"]["201"]["headers"]
    assert not any(p["in"] == "header" for p in spec["paths"]["/v1/wallet/transactions"]["get"]["parameters"])


def test_response_schemas_are_components_or_envelopes_of_them() -> None:
    make_app("spec-check")
    spec = build_openapi()
    me = spec["paths"]["/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert me["properties"]["data"] == {"$ref": "#/components/schemas/User"} and me["required"] == ["data"]
    devices = spec["paths"]["/v1/devices"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert devices["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Device"}
    assert devices["properties"]["pagination"] == {"$ref": "#/components/schemas/Pagination"}
    user = spec["components"]["schemas"]["User"]
    assert user["additionalProperties"] is False and "twoFactorEnabled" in user["required"]
    assert user["properties"]["phone"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
