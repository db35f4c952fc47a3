"""OpenAPI 3.1 document built from the route table (gridshare.http.api.ROUTES)."""

from __future__ import annotations

import re
from typing import Any

from gridshare.http.api import ROUTES, RouteSpec
from gridshare.http.idempotency import HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _operation(spec: RouteSpec, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{spec.context}.{spec.view_name}",
        "summary": spec.summary,
        "tags": [spec.context],
        "responses": {str(spec.status): {"description": "Success", "content": {"application/json": {}}}},
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(by_alias=True)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        op["responses"]["422"] = _problem_response("Invalid query parameters (a time range or page size out of bounds)")
    if spec.idempotent:
        params.append(
            {
                "name": HEADER,
                "in": "header",
                "required": False,
                "description": "Retry-safe: the same key and body replay the first response; the same key with "
                "another body is refused (422). Keys are scoped to the caller and the path and kept 24 h.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
            }
        )
    if params:
        op["parameters"] = params
    if spec.body is not None:
        name = spec.body.__name__
        schema = spec.body.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            components[def_name] = definition
        components[name] = schema
        op["requestBody"] = {
            "required": not getattr(spec.body, "EMPTY_BODY_ALLOWED", False),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
        op["responses"]["400"] = _problem_response("Malformed request")
        op["responses"]["422"] = _problem_response("Invalid fields")
    if spec.protected:
        op["security"] = [{"bearerAuth": []}]
        op["x-gridshare-roles"] = sorted(spec.roles or ())
        op["responses"]["401"] = _problem_response("Missing, invalid or expired token")
        op["responses"]["403"] = _problem_response("Role not admitted")
    if "{" in spec.path:
        op["responses"]["404"] = _problem_response("Not found (or not yours)")
    if spec.idempotent:
        op["responses"][str(spec.status)]["headers"] = {
            REPLAYED_HEADER: {
                "description": "true when this response replays the first one sent for the Idempotency-Key",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
        op["responses"].setdefault("409", _problem_response("Conflict, or a request with this key still running"))
        op["responses"].setdefault("422", _problem_response("Invalid fields, or the key reused with another body"))
    return op


def build_openapi(include_local: bool = False) -> dict[str, Any]:
    components: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    }
    paths: dict[str, Any] = {}
    for spec in sorted(ROUTES, key=lambda s: (s.path, s.method)):
        if spec.local_only and not include_local:
            continue
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gridshare API",
            "version": "1.0.0",
            "description": "Energy communities, peer-to-peer solar sharing and device fleets.",
        },
        "servers": [{"url": "http://127.0.0.1:8000", "description": "local stack"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
