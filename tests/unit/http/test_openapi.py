"""The OpenAPI document covers every route and the committed copy is current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gridshare.app_factory import make_app
from gridshare.http.api import ROUTES
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


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, methods in spec["paths"].items() for method, op in methods.items()]


def test_every_operation_documents_its_success_body_and_every_error_it_can_answer() -> None:
    make_app("spec-check")
    spec = build_openapi()
    operations = _operations(spec)
    assert len(operations) == len({(s.method, s.path) for s in ROUTES if not s.local_only}) >= 43
    without_schema, unprotected, problems = [], [], []
    for method, path, op in operations:
        (success,) = [status for status in op["responses"] if status.startswith("2")]
        content = op["responses"][success].get("content", {}).get("application/json", {})
        if success != "204" and not content.get("schema"):
            without_schema.append(f"{method} {path}")
        if success == "204" and "content" in op["responses"][success]:
            without_schema.append(f"{method} {path} (a 204 with content)")
        if "security" in op and "401" not in op["responses"]:
            unprotected.append(f"{method} {path}")
        for status, response in op["responses"].items():
            if status[0] in "45" and response["content"] != {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }:
                problems.append(f"{method} {path} {status}")
        assert "500" in op["responses"], f"{method} {path}"
        if "{" in path:
            assert "404" in op["responses"], f"{method} {path}"
        if "requestBody" in op:
            # a parsed body can be invalid (422); a raw one (the webhook's signed bytes) is refused with 400
            parsed = "description" not in op["requestBody"]
            assert {"400", "413", "415"} | ({"422"} if parsed else set()) <= set(op["responses"]), f"{method} {path}"
        if any(p["in"] == "query" for p in op.get("parameters", [])):
            assert "422" in op["responses"], f"{method} {path}"
        roles = op.get("x-gridshare-roles")
        if roles is not None and len(roles) < 6:
            assert "403" in op["responses"], f"{method} {path}"
        if "429" in op["responses"]:
            assert "Retry-After" in op["responses"]["429"]["headers"], f"{method} {path}"
    assert without_schema == []
    assert unprotected == []
    assert problems == []


def test_services_declare_the_conflicts_and_limits_they_raise() -> None:
    make_app("spec-check")
    paths = build_openapi()["paths"]
    assert "409" in paths["/v1/auth/register"]["post"]["responses"]
    assert {"401", "403", "429"} <= set(paths["/v1/auth/login"]["post"]["responses"])
    assert "429" in paths["/v1/auth/forgot-password"]["post"]["responses"]
    assert {"409", "422"} <= set(paths["/v1/telemetry/dead-letters/{id}/replay"]["post"]["responses"])
    assert {"409", "503"} <= set(paths["/v1/wallet/withdrawals"]["post"]["responses"])
    assert "403" not in paths["/v1/me"]["get"]["responses"]  # every role may call it


def test_the_webhook_requires_the_stripe_signature_header() -> None:
    make_app("spec-check")
    webhook = build_openapi()["paths"]["/v1/payments/stripe/webhook"]["post"]
    (header,) = [p for p in webhook["parameters"] if p["in"] == "header"]
    assert (header["name"], header["required"]) == ("Stripe-Signature", True)
    assert {"400", "413"} <= set(webhook["responses"])


def test_query_parameters_are_typed_never_null_and_times_say_what_they_accept() -> None:
    make_app("spec-check")
    params = [p for _, _, op in _operations(build_openapi()) for p in op.get("parameters", []) if p["in"] == "query"]
    assert params
    for param in params:
        schema = param["schema"]
        assert "anyOf" not in schema and "title" not in schema and schema.get("default", "") is not None, param
        assert "type" in schema or "enum" in schema, param
        if param["name"] in ("from", "to"):
            assert schema["type"] == "string" and "ISO 8601 or epoch ms" in param["description"], param
    history = build_openapi()["paths"]["/v1/devices/{id}/readings"]["get"]["parameters"]
    limit = next(p for p in history if p["name"] == "limit")
    assert (limit["schema"]["type"], limit["schema"]["minimum"]) == ("integer", 1)


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
