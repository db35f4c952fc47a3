"""Every answer the API gives a test is the one its route declares (gridshare.http.api.ROUTES).

`check(method, path, status, headers, body)` finds the route of a request by method and path template and
checks the answer against the declaration and the OpenAPI document built from it:

- a 2xx has the route's status, and its body validates against the route's response model (pydantic,
  strict, unknown fields refused) and against the document's schema for it (JSON Schema 2020-12, as a
  fuzzer reads it); a 204 has no body;
- any other status is one the operation documents, answered as `application/problem+json` with a body
  that validates against the Problem schema.

`tests.support.api.Api.call` runs it on every call, so each route the suites exercise is checked; a
request no route declares (an unknown path, a method the path lacks) is not checked here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:gridshare:openapi"


class ContractViolation(AssertionError):
    """An answer the route's declaration does not describe."""


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: Any  # gridshare.http.api.RouteSpec


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


@cache
def _routes(count: int) -> tuple[Route, ...]:
    """The route table as it stands (`count` = its length: it grows as route modules are imported)."""
    from gridshare.http.api import ROUTES

    return tuple(Route(s.method.upper(), s.path, _pattern(s.path), s) for s in ROUTES[:count])


@cache
def _document(count: int) -> dict[str, Any]:
    from gridshare.http.openapi import build_openapi

    return build_openapi(include_local=True)


def find_route(method: str, path: str) -> Route | None:
    """The declared route of a request; literal segments win over parameters (as in Chalice)."""
    from gridshare.http.api import ROUTES

    path = path.split("?", 1)[0]
    found = [r for r in _routes(len(ROUTES)) if r.method == method.upper() and r.pattern.match(path)]
    return min(found, key=lambda r: r.template.count("{"), default=None)


@cache
def _validator(count: int, pointer: str) -> Draft202012Validator:
    resource = Resource.from_contents(_document(count), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=registry)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _schema_errors(route: Route, status: int, media_type: str, document: Any) -> list[str]:
    from gridshare.http.api import ROUTES

    count = len(ROUTES)
    tokens = ("paths", route.template, route.method.lower(), "responses", str(status), "content", media_type)
    pointer = "/" + "/".join(_escape(t) for t in (*tokens, "schema"))
    validator = _validator(count, pointer)
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in validator.iter_errors(document)]


def _header(headers: Any, name: str) -> str:
    for key, value in dict(headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def check(method: str, path: str, status: int, headers: Any, body: bytes | str | None) -> Route | None:
    """Raise ContractViolation when the answer is not what the route declares; the route, or None when no
    route declares the request."""
    from gridshare.http.api import ROUTES
    from gridshare.http.responses import NoContent

    route = find_route(method, path)
    if route is None:
        return None
    spec = route.spec
    where = f"{route.method} {route.template} ({path}) answered {status}"
    raw = body.decode() if isinstance(body, bytes) else (body or "")
    if 200 <= status < 300:
        if status != spec.status:
            raise ContractViolation(f"{where}, the route declares {spec.status}")
        if spec.response is NoContent:
            if raw:
                raise ContractViolation(f"{where} with a body, the route declares none: {raw[:200]}")
            return route
        model: type[BaseModel] = spec.response
        try:
            model.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            raise ContractViolation(f"{where}: the body is not a {model.__name__}:\n{exc}\n{raw[:2000]}") from None
        problems = _schema_errors(route, status, "application/json", json.loads(raw))
        if problems:
            raise ContractViolation(f"{where}: the body does not match the document:\n" + "\n".join(problems))
        return route
    documented = _document(len(ROUTES))["paths"][route.template][route.method.lower()]["responses"]
    if str(status) not in documented:
        raise ContractViolation(f"{where}, which its operation does not document ({sorted(documented)}): {raw[:300]}")
    content_type = _header(headers, "content-type").split(";")[0].strip()
    if content_type != "application/problem+json":
        raise ContractViolation(f"{where} as {content_type!r}, not application/problem+json")
    problems = _schema_errors(route, status, "application/problem+json", json.loads(raw))
    if problems:
        raise ContractViolation(f"{where}: not a problem:\n" + "\n".join(problems))
    return route
