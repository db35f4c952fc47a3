"""RFC 9457 problem details: the only error shape the API returns."""

from __future__ import annotations

import json
from typing import Any

from chalice import Response

from gridshare.kernel import errors

PROBLEM_BASE = "https://gridshare.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

# error class -> (status, type slug, title)
_PROBLEMS: dict[type[errors.GridshareError], tuple[int, str, str]] = {
    errors.BadRequest: (400, "bad-request", "Bad request"),
    errors.InvalidInput: (422, "validation", "Validation failed"),
    errors.AuthenticationFailed: (401, "unauthorized", "Unauthorized"),
    errors.PermissionDenied: (403, "forbidden", "Forbidden"),
    errors.NotFound: (404, "not-found", "Not found"),
    errors.Conflict: (409, "conflict", "Conflict"),
    errors.PayloadTooLarge: (413, "payload-too-large", "Payload too large"),
    errors.TooManyRequests: (429, "too-many-requests", "Too many requests"),
    errors.Unavailable: (503, "unavailable", "Service unavailable"),
}


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    field_errors: list[errors.FieldError] | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if field_errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in field_errors]
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    all_headers = {"Content-Type": PROBLEM_CONTENT_TYPE}
    all_headers.update(headers or {})
    return Response(body=json.dumps(body), status_code=body["status"], headers=all_headers)


def from_error(error: errors.GridshareError, instance: str | None = None) -> Response:
    for cls in type(error).__mro__:
        if cls in _PROBLEMS:
            status, slug, title = _PROBLEMS[cls]  # type: ignore[index]
            break
    else:  # a GridshareError subclass nobody mapped: a bug, not the caller's fault
        status, slug, title = 500, "internal", "Internal error"
    headers = {"WWW-Authenticate": 'Bearer realm="gridshare"'} if status == 401 else {}
    if isinstance(error, errors.TooManyRequests) and error.retry_after_s:
        headers["Retry-After"] = str(error.retry_after_s)
    body = problem_body(status, slug, title, error.detail, field_errors=error.errors, instance=instance)
    return problem_response(body, headers)


def internal_error(instance: str | None = None) -> Response:
    return problem_response(
        problem_body(500, "internal", "Internal error", "An unexpected error occurred.", instance=instance)
    )
