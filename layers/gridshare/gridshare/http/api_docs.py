"""The routes table of docs/api.md, generated from the OpenAPI document (itself built from the route table).

One row per deployed operation: method, path, the roles it admits, its summary, what it takes (body
fields, `?` marking optional ones; query parameters) and what it answers (the success status and shape,
then every error status it documents). `make openapi` rewrites the table between the markers; a test
keeps the committed page equal to what this module prints.
"""

from __future__ import annotations

from typing import Any

from gridshare.http.api import ANY_ROLE

BEGIN = "<!-- routes: generated from the route table by `make openapi`; do not edit by hand -->"
END = "<!-- end of generated routes -->"
METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _body(document: dict[str, Any], operation: dict[str, Any]) -> str:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return "raw body" if content else ""
    name = _ref_name(schema)
    resolved = document["components"]["schemas"][name] if name else schema
    required = set(resolved.get("required", ()))
    fields = [f if f in required else f"{f}?" for f in resolved.get("properties", {})]
    return "`{" + ", ".join(fields) + "}`"


def _query(operation: dict[str, Any]) -> str:
    names = [p["name"] for p in operation.get("parameters", ()) if p.get("in") == "query"]
    return "`?" + "&".join(f"{n}=" for n in names) + "`" if names else ""


def _name(schema: dict[str, Any]) -> str:
    """A component's name, `A \\| B` for a union, `[A]` for a list."""
    if name := _ref_name(schema):
        return name
    if variants := schema.get("anyOf") or schema.get("oneOf"):
        return " \\| ".join(_name(v) for v in variants)
    if schema.get("type") == "array":
        return "[" + _name(schema.get("items", {})) + "]"
    return str(schema.get("title") or schema.get("type") or "object")


def _shape(schema: dict[str, Any]) -> str:
    """`{data: Device}`, `page of Device`, or the component's name."""
    properties = schema.get("properties", {})
    data = properties.get("data")
    if data is None or _ref_name(schema):
        return _name(schema)
    if "pagination" in properties:
        return f"page of {_name(data.get('items', {}))}"
    return "{data: " + _name(data) + "}"


def _answers(operation: dict[str, Any]) -> str:
    parts: list[str] = []
    errors: list[str] = []
    for status, response in sorted(operation["responses"].items()):
        if status.startswith("2"):
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            parts.append(f"{status} `{_shape(schema)}`" if schema else status)
        else:
            errors.append(status)
    return "; ".join(parts) + (" · errors " + " ".join(errors) if errors else "")


def _roles(operation: dict[str, Any]) -> str:
    if not operation.get("security"):
        return "public"
    roles = operation.get("x-gridshare-roles") or []
    return "any role" if set(roles) >= ANY_ROLE else ", ".join(roles)


def routes_table(document: dict[str, Any]) -> str:
    rows = [
        "| method | path | roles | what | takes | answers |",
        "|---|---|---|---|---|---|",
    ]
    for path, item in document["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            takes = " ".join(x for x in (_body(document, operation), _query(operation)) if x)
            summary = operation.get("summary", "").replace("|", "\\|")
            rows.append(
                f"| {method.upper()} | `{path}` | {_roles(operation)} | {summary} | {takes} | {_answers(operation)} |"
            )
    return "\n".join(rows)


def render(page: str, document: dict[str, Any]) -> str:
    """`page` with the text between the markers replaced by the current routes table."""
    head, sep, rest = page.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the page has no {BEGIN!r} ... {END!r} section")
    return f"{head}{BEGIN}\n{routes_table(document)}\n{END}{tail}"
