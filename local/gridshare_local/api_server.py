"""The local API server: Chalice's local gateway, answering what API Gateway answers with problems.

`chalice.local` mimics API Gateway's raw answers: an unknown path is a 403 whose body echoes the
caller's `Authorization` header, and Python's HTTP server answers oversized headers (431), unknown
methods such as TRACE (501) and malformed request lines with HTML. The deployed API turns those into
RFC 9457 problems with gateway responses (infra_cdk/constructs/api.py); this handler does the same
locally, so clients (and the fuzzer) see one contract in both places, and no header is ever echoed.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, ForbiddenError, LocalDevServer

from gridshare.http.api import ROUTES, SECURITY_HEADERS
from gridshare.http.problems import PROBLEM_CONTENT_TYPE, problem_body

_SLUGS = {
    400: ("bad-request", "Bad request"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    414: ("uri-too-long", "URI too long"),
    431: ("request-header-fields-too-large", "Request header fields too large"),
}


def allowed_methods(path: str) -> list[str]:
    """The methods the route table declares for `path`, sorted ([] when none), as the app's own 405 says."""
    methods = {
        spec.method for spec in ROUTES if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(spec.path)), path)
    }
    return sorted(methods)


DISCARD_LIMIT = 1 << 20
"""The largest body of a refused request read (and dropped) to keep its connection; a bigger one closes it."""


class ProblemRequestHandler(ChaliceRequestHandler):
    """ChaliceRequestHandler whose own refusals are problem+json, never HTML or an echoed header."""

    def _send_problem(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        slug, title = _SLUGS.get(status, ("bad-request", "Bad request"))
        path = (getattr(self, "path", "") or "").split("?", 1)[0][:200] or None
        body = json.dumps(problem_body(status, slug, title, detail, instance=path)).encode()
        self.send_response(status)
        self.send_header("Content-Type", PROBLEM_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        if status >= 400 and status not in (404, 405):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def _discard_body(self) -> None:
        """Read the body of a request refused before it was read, so that the kept-alive connection's next
        request starts where it should (not in this one's body); a body too big or unreadable closes it."""
        headers = getattr(self, "headers", None)
        try:
            length = int(headers.get("content-length") or 0) if headers is not None else 0
        except ValueError:
            length = -1
        if 0 <= length <= DISCARD_LIMIT and "chunked" not in (headers.get("transfer-encoding") or "").lower():
            if length:
                self.rfile.read(length)
        else:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Python's HTTP server refusing a request it cannot read (431, 414, 400, 501)."""
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method no route can have (TRACE, CONNECT, ...)
            self._refuse_method()
            return
        self._send_problem(code, message or HTTPStatus(code).phrase)

    def _send_error_response(self, error: Any) -> None:
        if isinstance(error, ForbiddenError) and error.headers.get("x-amzn-ErrorType") == "UnauthorizedException":
            # chalice.local's "no such route" (API Gateway's MISSING_AUTHENTICATION_TOKEN): a 404 problem,
            # as the deployed gateway response answers, without echoing the Authorization header.
            self._send_problem(404, "No route matches this path.")
            return
        super()._send_error_response(error)

    def _refuse_method(self) -> None:
        """405 with the methods the path has (RFC 9110 `Allow`), or 404 for a path no route has."""
        self._discard_body()
        allowed = allowed_methods((getattr(self, "path", "") or "").split("?", 1)[0])
        if not allowed:
            self._send_problem(404, "No route matches this path.")
            return
        self._send_problem(405, f"The method {self.command} is not allowed.", {"Allow": ", ".join(allowed)})

    def do_TRACE(self) -> None:  # noqa: N802 - http.server's naming
        self._refuse_method()

    do_CONNECT = do_TRACE  # noqa: N815


def create_api_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """`chalice.local.create_local_server` with the problem-speaking handler."""
    from chalice.local import CustomLocalChalice, LocalChalice

    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=ProblemRequestHandler)
