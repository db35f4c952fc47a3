"""The declared response of a 204 route, in a module of its own: a route declaration needs it at import,
and the request path imports no pydantic (gridshare.http.responses holds the response models)."""

from __future__ import annotations


class NoContent:
    """The response of a 204 route: no body."""


NO_CONTENT = NoContent
