"""Domain and service errors. The HTTP layer maps each to one problem type (gridshare.http.problems)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class GridshareError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class InvalidInput(GridshareError):
    """The request is well-formed but a field is wrong (422)."""


class BadRequest(GridshareError):
    """The request cannot be read at all: malformed JSON, a bad cursor (400)."""


class AuthenticationFailed(GridshareError):
    """No identity could be established (401). Never says whether the account exists."""


class PermissionDenied(GridshareError):
    """The caller's role does not admit the operation (403)."""


class NotFound(GridshareError):
    """The object does not exist or belongs to someone else (404: ownership is not revealed)."""


class Conflict(GridshareError):
    """The request clashes with the current state (409), e.g. an email already registered."""


class TooManyRequests(GridshareError):
    """Rate limit or lockout (429)."""

    def __init__(self, detail: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(GridshareError):
    """The request body is over the size limit (413)."""


class Unavailable(GridshareError):
    """A dependency is down or throttling after retries (503)."""


class ConfigurationError(RuntimeError):
    """The deployment lacks a setting the code needs (e.g. GS_CURSOR_SECRET).

    Not a GridshareError on purpose: the caller can do nothing about it, so the route guard answers the
    generic 500 problem and logs this message, which names the setting (never its value).
    """
