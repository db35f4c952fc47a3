"""Builds a Chalice app from context blueprints: the whole API (app.py) or one context's Lambda."""

from __future__ import annotations

import importlib
import json
from typing import Any

from chalice import Chalice

from gridshare.http.api import SECURITY_HEADERS
from gridshare.http.problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE

_SLUGS = {
    400: "bad-request",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    500: "internal",
}


class GridshareChalice(Chalice):
    """A Chalice app whose own error answers (no such method, wrong content type, ...) are problem+json
    with the security headers too, like every answer of our views."""

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = super().__call__(event, context)
        status = int(response.get("statusCode", 200))
        headers = response.setdefault("headers", {})
        if status >= 400 and headers.get("Content-Type") != PROBLEM_CONTENT_TYPE:
            try:
                detail = str(json.loads(response.get("body") or "{}").get("Message") or "")
            except (ValueError, AttributeError):
                detail = ""
            title = {405: "Method not allowed", 415: "Unsupported media type"}.get(status, "Request failed")
            response["body"] = json.dumps(
                {
                    "type": PROBLEM_BASE + _SLUGS.get(status, "error"),
                    "title": title,
                    "status": status,
                    "detail": detail if status < 500 else "An unexpected error occurred.",
                    "instance": event.get("path") or (event.get("requestContext") or {}).get("path"),
                }
            )
            headers["Content-Type"] = PROBLEM_CONTENT_TYPE
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        return response


# context -> modules each holding an ApiBlueprint `api`
CONTEXT_MODULES: dict[str, tuple[str, ...]] = {
    "platform": ("functions.platform.api",),
    "identity": (
        "functions.identity.api",
        "functions.identity.mfa_api",
        "functions.identity.users_api",
        "functions.identity.security_api",
    ),
    "devices": ("functions.devices.api",),
    "telemetry": ("functions.telemetry.api",),
    "wallets": ("functions.wallets.api", "functions.wallets.admin_api"),
}


def import_all_contexts() -> None:
    """Import every context's routes (filling gridshare.http.api.ROUTES) without building an app."""
    for modules in CONTEXT_MODULES.values():
        for module in modules:
            importlib.import_module(module)


def make_app(name: str, contexts: list[str] | tuple[str, ...] = tuple(CONTEXT_MODULES)) -> Chalice:
    app = GridshareChalice(app_name=name)
    app.debug = False  # never a stack trace in a response
    for context in contexts:
        for name in CONTEXT_MODULES[context]:
            app.register_blueprint(importlib.import_module(name).api.build())
    return app
