"""The platform's response bodies (gridshare.http.responses)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict

from gridshare.http.responses import ResponseModel


class Health(ResponseModel):
    status: Literal["ok"]


class OpenApiDocument(ResponseModel):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""

    model_config = ConfigDict(extra="allow")

    openapi: Literal["3.1.0"]
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
