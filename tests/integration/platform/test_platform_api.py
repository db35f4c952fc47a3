"""Platform routes: liveness and the OpenAPI document that describes every context's routes."""

from __future__ import annotations

import json

from gridshare.http.api import ROUTES
from tests.support.api import Api


def test_health_answers_without_a_token(api: Api) -> None:
    response = api.call("GET", "/health")
    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok"}


def test_the_served_document_describes_every_deployed_route(api: Api) -> None:
    # Given the whole API, When a client fetches the document, Then each declared route is in it
    document = json.loads(api.call("GET", "/v1/openapi.json").body)
    assert document["openapi"].startswith("3.1")
    for spec in ROUTES:
        if spec.local_only:
            continue
        assert spec.method.lower() in document["paths"][spec.path], f"{spec.method} {spec.path} is not documented"
