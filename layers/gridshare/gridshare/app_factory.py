"""Builds a Chalice app from context blueprints: the whole API (app.py) or one context's Lambda.

The composition root: the one module of the layer that assembles contexts (gridshare.contexts). Every
app it builds is observed (gridshare.kernel.observability): JSON logs with API Gateway's request id,
metrics flushed, X-Ray traced on Lambda, so no entry stub has to remember it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from chalice import Chalice

from gridshare.contexts import CONTEXTS, import_routes
from gridshare.http.api import SECURITY_HEADERS, TOKEN_REFUSALS
from gridshare.http.problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE
from gridshare.kernel.observability import LambdaEntry, api_gateway_request_id

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
    with the security headers too, like every answer of our views, and whose every invocation is observed.

    Chalice's own log (e.g. an exception outside our views) joins the `gridshare` logger tree instead of
    Chalice's plain-text handler, so it is JSON with the request id like every other line.
    """

    def __init__(self, app_name: str) -> None:
        super().__init__(app_name=app_name, configure_logs=False)
        self.log = logging.getLogger(f"gridshare.chalice.{app_name}")
        self._entry = LambdaEntry(self._respond, correlation_id=api_gateway_request_id, name=app_name)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = self._entry(event, context)
        return response

    def _respond(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
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


def _record_token_refused(**event: Any) -> None:
    """A refused token is a security event (identity's log; the guard of every Lambda may append to it)."""
    from gridshare.identity.security_log import record

    record("token_refused", **event)


def make_app(name: str, contexts: tuple[str, ...] | list[str] = CONTEXTS) -> Chalice:
    """The routes of `contexts` (default: every context) as one Chalice app."""
    TOKEN_REFUSALS.connect(_record_token_refused)
    app = GridshareChalice(app_name=name)
    app.debug = False  # never a stack trace in a response
    for context in contexts:
        for module in import_routes(context):
            app.register_blueprint(module.api.build())
    return app
