"""Every route declares its 2xx body: the route table holds no route without a response model, and a
declaration without one fails where it is written."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from gridshare.app_factory import make_app
from gridshare.http.api import ROUTES, ApiBlueprint
from gridshare.http.responses import NO_CONTENT, Envelope, NoContent, ResponseModel


class Thing(ResponseModel):
    id: str


@pytest.fixture(scope="module")
def routes() -> list:
    from gridshare_local import clock_api, outbox  # noqa: F401 - local-only routes declare bodies too

    make_app("route-declarations")
    return list(ROUTES)


def test_every_route_in_the_table_declares_its_response(routes: list) -> None:
    assert len(routes) >= 46
    undeclared = [
        f"{s.method} {s.path}"
        for s in routes
        if not (s.response is NoContent or (isinstance(s.response, type) and issubclass(s.response, BaseModel)))
    ]
    assert undeclared == []
    assert [f"{s.method} {s.path}" for s in routes if (s.response is NoContent) != (s.status == 204)] == []


def test_a_route_without_a_response_model_does_not_register() -> None:
    before = len(ROUTES)
    with pytest.raises(ValueError, match="declare the 2xx body"):
        ApiBlueprint("devices").route("/v1/anything", "GET", roles=None, summary="x")
    with pytest.raises(ValueError, match="NO_CONTENT is the response of a 204"):
        ApiBlueprint("devices").route("/v1/anything", "GET", roles=None, summary="x", response=NO_CONTENT)
    with pytest.raises(ValueError, match="NO_CONTENT is the response of a 204"):
        ApiBlueprint("devices").route("/v1/anything", "POST", roles=None, status=204, summary="x", response=Thing)
    with pytest.raises(ValueError, match="must be a pydantic model"):
        ApiBlueprint("devices").route("/v1/anything", "GET", roles=None, summary="x", response=dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not statuses"):
        ApiBlueprint("devices").route(
            "/v1/anything", "GET", roles=None, summary="x", response=Envelope[Thing], errors=(418,)
        )
    assert len(ROUTES) == before
