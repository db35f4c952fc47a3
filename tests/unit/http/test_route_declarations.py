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


def test_every_route_names_models_that_exist(routes: list) -> None:
    # Given every route in the table (its models named, resolved on first use)
    # When each resolves its body, query, raw body and response
    resolved = [spec.resolve() for spec in routes]
    # Then each names pydantic models (or NO_CONTENT), and a route with a body or query has its model
    for spec in resolved:
        for model in (spec.body, spec.query, spec.raw_body):
            assert model is None or issubclass(model, BaseModel), f"{spec.method} {spec.path}"
        assert (spec.body is None) == (spec.body_ref is None), f"{spec.method} {spec.path}"
        assert (spec.query is None) == (spec.query_ref is None), f"{spec.method} {spec.path}"
    assert sum(spec.body is not None for spec in resolved) >= 30
    assert sum(spec.query is not None for spec in resolved) >= 20


def test_a_misnamed_model_fails_where_it_resolves() -> None:
    # Given routes naming a request model, a response model and a generic's item that do not exist, and
    # one naming something that is not a model
    blueprint = ApiBlueprint("devices")
    before = len(ROUTES)
    for name, kwargs in [
        ("body", {"body": "NoSuchBody", "response": "Envelope[DeviceDetail]"}),
        ("query", {"query": "NoSuchQuery", "response": "Envelope[DeviceDetail]"}),
        ("response", {"response": "NoSuchResponse"}),
        ("item", {"response": "Page[NoSuchItem]"}),
        ("not a model", {"response": "Envelope[DeviceDetail]", "body": "Field"}),
    ]:
        blueprint.route(f"/v1/misnamed/{name}", "POST", roles=None, summary="x", **kwargs)(lambda: None)
    specs = ROUTES[before:]
    del ROUTES[before:]  # declared for this test only
    # Then declaring them passed (nothing was imported), and resolving each fails naming the route
    messages = []
    for spec in specs:
        with pytest.raises(ValueError) as raised:
            spec.resolve()
        messages.append(str(raised.value))
    assert "POST /v1/misnamed/body: gridshare.devices.requests has no model named 'NoSuchBody'" in messages[0]
    assert "gridshare.devices.requests has no model named 'NoSuchQuery'" in messages[1]
    assert "gridshare.devices.responses has no model named 'NoSuchResponse'" in messages[2]
    assert "gridshare.devices.responses has no model named 'NoSuchItem'" in messages[3]
    assert "must name a pydantic model" in messages[4]
