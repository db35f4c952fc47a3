"""Settlement routes: start a run (admins), list and read runs (admins and operators).

`POST /v1/settlements` takes `{"from", "to"}`, ISO 8601 UTC times on 15-minute boundaries, `from < to`,
at most 7 days apart, and `to` no later than now (delivery has ended); it answers 202 with the run
(`id`, `status`, `executionArn`) while the state machine settles it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridshare.http.api import ApiBlueprint
from gridshare.http.pagination import page
from gridshare.kernel import errors
from gridshare.kernel.roles import Caller
from gridshare.market.service import parse_interval
from gridshare.settlement.service import MAX_SPAN_MS, SettlementService, settlement_service

if TYPE_CHECKING:
    from gridshare.settlement.requests import RunBody, RunsQuery

api = ApiBlueprint("settlement")

ADMINS: frozenset[str] = frozenset({"admin"})
READERS: frozenset[str] = frozenset({"admin", "operator"})


def service() -> SettlementService:
    return settlement_service()


def _window(body: RunBody, now: int) -> tuple[int, int]:
    start, end = parse_interval(body.from_, "from"), parse_interval(body.to, "to")
    if end <= start:
        raise errors.InvalidInput("`to` must be after `from`.", errors=[errors.FieldError("to", "after from")])
    if end - start > MAX_SPAN_MS:
        raise errors.InvalidInput(
            "A run settles at most 7 days.", errors=[errors.FieldError("to", "at most 7 days after from")]
        )
    if end > now:
        raise errors.InvalidInput(
            "Only intervals whose delivery has ended can be settled.",
            errors=[errors.FieldError("to", "not after now")],
        )
    return start, end


@api.route(
    "/v1/settlements",
    "POST",
    roles=ADMINS,
    body="RunBody",
    status=202,
    response="Envelope[Run]",
    errors=(422, 503),  # a bad window; settlement not configured
    summary="Start a settlement run over the delivered intervals of [from, to)",
)
def start_run(caller: Caller, body: RunBody) -> dict[str, Any]:
    start, end = _window(body, service().clock())
    return {"data": service().start(start, end, trigger="admin", requested_by=caller.user_id)}


@api.route(
    "/v1/settlements",
    "GET",
    roles=READERS,
    query="RunsQuery",
    response="Page[Run]",
    summary="Settlement runs, newest first",
)
def list_runs(caller: Caller, query: RunsQuery) -> dict[str, Any]:
    items, cursor = service().list(query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route(
    "/v1/settlements/{id}",
    "GET",
    roles=READERS,
    response="Envelope[RunDetail]",
    summary="A settlement run: status, counts, totals per kind, its postings (reversals and reposts linked)",
)
def get_run(caller: Caller, id: str) -> dict[str, Any]:  # noqa: A002
    return {"data": service().get(id)}
