"""OpenAPI 3.1 document built from the route table (gridshare.http.api.ROUTES).

Each operation documents its 2xx body (the route's `response` model, gridshare.http.responses) and every
error status it can answer, as `application/problem+json` with the Problem schema: what the declaration
implies (401 for a protected route, 403 when its roles are restricted, 404 with a path parameter,
400/413/415/422 with a body, 400/422 with a query, 409/422/503 when idempotent, 500 anywhere) and what the
route lists in `errors=` (e.g. 409 or 429, the latter with `Retry-After`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from gridshare.http.api import ANY_ROLE, MAX_BODY_BYTES, ROUTES, RouteSpec
from gridshare.http.idempotency import HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER
from gridshare.http.no_content import NoContent

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_REF_TEMPLATE = "#/components/schemas/{model}"
TIME_FORMATS = "ISO 8601 or epoch ms"
TIME_PARAMETERS = ("from", "to")

# What each error status means when a route declares it without further ado.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Payload too large",
    415: "A Content-Type other than application/json",
    422: "Invalid fields",
    429: "Too many attempts; retry after `Retry-After` seconds",
    500: "Unexpected error (never a stack trace)",
    503: "A dependency is unavailable; retry later",
}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _model_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema, its nested models moved to components (a name means one schema)."""
    schema = model.model_json_schema(by_alias=True, ref_template=_REF_TEMPLATE)
    for name, definition in schema.pop("$defs", {}).items():
        _add_component(components, name, definition)
    return schema


def _add_component(components: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if name in components and components[name] != schema:
        raise ValueError(f"two different schemas are named {name!r}; rename one of the models")
    components[name] = schema


def _component_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A named model becomes a component; a parametrized generic (Envelope[Item], Page[Item]) is inlined."""
    schema = _model_schema(model, components)
    if "[" in model.__name__:
        return schema
    _add_component(components, model.__name__, schema)
    return {"$ref": _REF_TEMPLATE.format(model=model.__name__)}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None = None` of a query model: a parameter is absent or has a value, never null."""
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        schema = {key: value for key, value in schema.items() if key != "anyOf"}
        schema.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    return schema


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _model_schema(model, components)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null({key: value for key, value in prop.items() if key != "title"})
        description = prop.pop("description", None)
        if name in TIME_PARAMETERS:  # parsed by gridshare.kernel.clock.parse_time: no JSON schema format fits
            prop["type"] = "string"
            if TIME_FORMATS not in (description or ""):
                description = f"{TIME_FORMATS}; {description}" if description else TIME_FORMATS
        elif name == "cursor" and not description:
            description = "the `nextCursor` of the previous page (opaque, signed)"
        elif name == "limit" and not description:
            description = "the page size"
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _error_responses(spec: RouteSpec) -> dict[int, str]:
    """Every error status the route can answer -> its description here."""
    found: dict[int, str] = {}
    if spec.protected:
        found[401] = "Missing, invalid, expired or revoked token"
        if spec.roles != ANY_ROLE:
            found[403] = "Role not admitted"
    if "{" in spec.path:
        found[404] = "Not found (or not yours)"
    if spec.body is not None:
        found[400] = "Missing, malformed JSON, not an object, nested too deep or a string too long"
        found[413] = f"Body over {MAX_BODY_BYTES} bytes"
        found[415] = ERROR_DESCRIPTIONS[415]
        found[422] = "Invalid fields"
    if spec.query is not None:
        if spec.paginated:
            found.setdefault(400, "A cursor that is not one of this listing")
        found.setdefault(422, "Invalid query parameters (a time range or page size out of bounds)")
    if spec.idempotent:
        found.setdefault(409, "Conflict, or a request with this key still running")
        found[422] = found.get(422, "Invalid fields") + ", or the Idempotency-Key reused with another body"
        found.setdefault(503, "The request could not be recorded, or a dependency is unavailable; retry with the key")
    for status in spec.errors:
        found.setdefault(status, ERROR_DESCRIPTIONS[status])
    found[500] = ERROR_DESCRIPTIONS[500]
    return dict(sorted(found.items()))


def _success_response(spec: RouteSpec, components: dict[str, Any]) -> dict[str, Any]:
    if spec.response is NoContent:
        return {"description": "No content"}
    assert issubclass(spec.response, BaseModel)
    schema = _component_ref(spec.response, components)
    return {"description": "Success", "content": {"application/json": {"schema": schema}}}


def _operation(spec: RouteSpec, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{spec.context}.{spec.view_name}",
        "summary": spec.summary,
        "tags": [spec.context],
        "responses": {str(spec.status): _success_response(spec, components)},
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    if spec.query is not None:
        params.extend(_query_parameters(spec.query, components))
    for header in spec.headers:
        params.append(
            {
                "name": header.name,
                "in": "header",
                "required": header.required,
                "description": header.description,
                "schema": header.schema or {"type": "string"},
            }
        )
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
        op["requestBody"] = {
            "required": not getattr(spec.body, "EMPTY_BODY_ALLOWED", False),
            "content": {"application/json": {"schema": _component_ref(spec.body, components)}},
        }
    elif spec.raw_body is not None:
        op["requestBody"] = {
            "required": True,
            "description": spec.raw_body.__doc__,
            "content": {"application/json": {"schema": _component_ref(spec.raw_body, components)}},
        }
    if spec.protected:
        op["security"] = [{"bearerAuth": []}]
        op["x-gridshare-roles"] = sorted(spec.roles or ())
    if spec.idempotent:
        op["responses"][str(spec.status)]["headers"] = {
            REPLAYED_HEADER: {
                "description": "true when this response replays the first one sent for the Idempotency-Key",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    for status, description in _error_responses(spec).items():
        response = _problem_response(description)
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {"description": 'Bearer realm="gridshare"', "schema": {"type": "string"}}
            }
        if status == 429:
            response["headers"] = {
                "Retry-After": {
                    "description": "seconds until the lockout ends",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        op["responses"][str(status)] = response
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
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
