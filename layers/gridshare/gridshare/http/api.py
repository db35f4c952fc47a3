"""The one way a route is declared: path, method, the roles it admits, its input models.

`ApiBlueprint.route` registers a Chalice view and a `RouteSpec` in `ROUTES`, the table that the OpenAPI
document, the CDK API (which methods get the authorizer) and the authorization tests are built from.
The wrapper checks the caller's token itself (the caller API Gateway's authorizer verified, when it is
handed over, else a full verification: gridshare.http.bearer, gridshare.http.auth), parses the body and
query into pydantic models, and turns every error into an RFC 9457 problem; views only call a service.

Every route declares its 2xx body (`response=`, a model of gridshare.http.responses, or `NO_CONTENT` for a
204): a route without one does not register. `errors=` lists the error statuses a route's service can
answer beyond those its declaration implies (401/403 from roles, 404 from a path parameter, 400/413/415/422
from a body, 400/422 from a query, 500 anywhere: gridshare.http.openapi), e.g. 409 or 429; `headers=`
documents request headers a view reads itself (e.g. `Stripe-Signature`).

A route declared `idempotent=True` (money requests) honours an `Idempotency-Key` header: the wrapper runs
the view under `gridshare.http.idempotency.run_idempotent`, keyed by caller, method and concrete path, so
a retry replays the first response (`Idempotent-Replayed: true`) instead of acting twice. Such a view
returns its response body (answered with the route's `status`) and may take `ids`, the `RequestIds` its
new objects are named from: the same on every run of one key.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from gridshare.http import problems
from gridshare.http.bearer import authorized_caller, check_not_expired, check_token_shape
from gridshare.http.responses import NoContent
from gridshare.kernel import errors
from gridshare.kernel.clock import TIME_PATTERN, parse_time
from gridshare.kernel.roles import ROLE_ORDER, Caller, ClientInfo
from gridshare.kernel.settings import get_settings

if TYPE_CHECKING:
    from gridshare.http.idempotency import RequestIds

logger = logging.getLogger("gridshare.http")

ANY_ROLE: frozenset[str] = frozenset(ROLE_ORDER)
ADMIN: frozenset[str] = frozenset({"admin"})
MAX_BODY_BYTES = 256 * 1024
# DynamoDB nests at most 32 levels, and no request of ours needs more than a few; a deeper document is
# refused before validation (1,000 levels used to raise RecursionError, a 500).
MAX_BODY_DEPTH = 32
MAX_STRING_CHARS = 16 * 1024
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


class ApiModel(BaseModel):
    """Base of request models: camelCase at the edge, unknown fields refused.

    Every model here defers building its validator to its first use (`defer_build`): a Lambda builds
    only the models of the requests it answers, not all of its context's at import (a cold start cost
    of ~1 ms per model; validation itself is unchanged)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, defer_build=True
    )

    def attributes(self, only_set: bool = False) -> dict[str, Any]:
        """The body as a service takes it: snake_case names, nested models as plain JSON (camelCase);
        `only_set` keeps just the fields the request sent (a PATCH)."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set if only_set else type(self).model_fields:
            value = getattr(self, name)
            out[name] = value.model_dump(mode="json", by_alias=True) if isinstance(value, ApiModel) else value
        return out


class QueryModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, defer_build=True
    )


class TimeRangeQuery(QueryModel):
    """`from`/`to` as ISO 8601 or epoch milliseconds (UTC); each route documents its defaults."""

    from_: str | None = Field(
        default=None, alias="from", pattern=TIME_PATTERN, description="ISO 8601 or epoch ms (inclusive)"
    )
    to: str | None = Field(
        default=None, pattern=TIME_PATTERN, description="ISO 8601 or epoch ms (exclusive); default now"
    )

    @field_validator("from_", "to")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)
        return value


# Error statuses a route may declare in `errors=` (each maps to a problem type in gridshare.http.problems).
ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 415, 422, 429, 503})


@dataclass(frozen=True)
class HeaderParam:
    """A request header a view reads itself, for the OpenAPI document."""

    name: str
    description: str
    required: bool = False
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class RouteSpec:
    context: str
    method: str
    path: str
    roles: frozenset[str] | None  # None: public (no token)
    summary: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    status: int
    view_name: str
    local_only: bool = False
    idempotent: bool = False  # honours an Idempotency-Key header (money requests)
    response: type[BaseModel] | type[NoContent] = NoContent  # the 2xx body (gridshare.http.responses)
    errors: tuple[int, ...] = ()  # error statuses beyond those implied (see gridshare.http.openapi)
    headers: tuple[HeaderParam, ...] = ()  # request headers the view reads itself
    raw_body: type[BaseModel] | None = None  # a body the view reads raw (signed bytes): documented, not parsed

    @property
    def protected(self) -> bool:
        return self.roles is not None

    @property
    def paginated(self) -> bool:
        """A list route: its query takes a `cursor`, so its function signs cursors (GS_CURSOR_SECRET)."""
        return self.query is not None and "cursor" in self.query.model_fields


ROUTES: list[RouteSpec] = []


def _field_errors(exc: ValidationError) -> list[errors.FieldError]:
    found = []
    for item in exc.errors():
        field = ".".join(str(part) for part in item["loc"]) or "$"
        found.append(errors.FieldError(field, item["msg"]))
    return found


def _bearer(headers: Any) -> str:
    value = headers.get("authorization") or ""
    if not value.lower().startswith("bearer "):
        raise errors.AuthenticationFailed("A bearer access token is required.")
    return value


def _check_shape(document: Any) -> None:
    """Refuse a document nested deeper than MAX_BODY_DEPTH or holding a string over MAX_STRING_CHARS (400),
    walking it without recursion."""
    if document is None:
        raise errors.BadRequest(
            f"The request body is nested deeper than {MAX_BODY_DEPTH} levels.",
            errors=[errors.FieldError("$", f"nested deeper than {MAX_BODY_DEPTH} levels")],
        )
    stack: list[tuple[Any, str, int]] = [(document, "$", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            if len(node) > MAX_STRING_CHARS:
                raise errors.BadRequest(
                    f"A string in the request body is longer than {MAX_STRING_CHARS} characters.",
                    errors=[errors.FieldError(path, f"longer than {MAX_STRING_CHARS} characters")],
                )
            continue
        children: Any = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            if isinstance(key, str) and len(key) > MAX_STRING_CHARS:
                raise errors.BadRequest(
                    f"A key in the request body is longer than {MAX_STRING_CHARS} characters.",
                    errors=[errors.FieldError(path, "key too long")],
                )
            if isinstance(child, dict | list) and depth + 1 > MAX_BODY_DEPTH:
                raise errors.BadRequest(
                    f"The request body is nested deeper than {MAX_BODY_DEPTH} levels.",
                    errors=[errors.FieldError(f"{path}.{key}", f"nested deeper than {MAX_BODY_DEPTH} levels")],
                )
            stack.append((child, f"{path}.{key}", depth + 1))


def _parse_body(raw: bytes | None, model: type[BaseModel]) -> BaseModel:
    if raw and len(raw) > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge(f"The request body is over {MAX_BODY_BYTES} bytes.")
    if (not raw or not raw.strip()) and getattr(model, "EMPTY_BODY_ALLOWED", False):
        raw = b"{}"
    if not raw or not raw.strip():
        # The document declares the body required; an empty one is not an empty change.
        raise errors.BadRequest("A JSON body is required.", errors=[errors.FieldError("$", "missing body")])
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.BadRequest(
            "The request body is not valid JSON.", errors=[errors.FieldError("$", "invalid JSON")]
        ) from None
    except RecursionError:
        document = None  # nested too deep for the parser itself: refused just below
    _check_shape(document)
    if not isinstance(document, dict):
        raise errors.BadRequest(
            "The request body must be a JSON object.", errors=[errors.FieldError("$", "not an object")]
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise errors.InvalidInput("The request body has invalid fields.", errors=_field_errors(exc)) from None


def _parse_query(params: dict[str, str] | None, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        raise errors.InvalidInput("The query has invalid parameters.", errors=_field_errors(exc)) from None


def _with_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _instance(request: Any) -> str:
    """The concrete path of this request (Chalice's `request.path` is the route template)."""
    try:
        event = request.to_original_event()
        return str(event.get("path") or event.get("requestContext", {}).get("path") or request.path)
    except Exception:  # noqa: BLE001 - never let error reporting fail
        return str(request.path)


class TokenRefusalLog:
    """Where the route guard reports a presented token it refused. gridshare.http knows no context: the app
    factory (the composition root) connects it to identity's security log."""

    def __init__(self) -> None:
        self._sink: Callable[..., object] | None = None

    def connect(self, sink: Callable[..., object]) -> None:
        self._sink = sink

    def record(self, **event: Any) -> None:
        if self._sink is not None:
            self._sink(**event)


TOKEN_REFUSALS = TokenRefusalLog()


def _client(request: Any) -> ClientInfo:
    context = request.context or {}
    return ClientInfo(ip=(context.get("identity") or {}).get("sourceIp"), user_agent=request.headers.get("user-agent"))


def _cors_headers(request: Any) -> dict[str, str]:
    origin = request.headers.get("origin")
    allowed = get_settings().cors_origin_list
    if origin and origin in allowed:  # exact origins only: a wildcard with credentials would trust any site
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Allow-Credentials": "true"}
    return {}


def _authenticate(request: Any) -> Caller:
    """The caller of a protected route, refused unless its token is genuine, unexpired and not revoked;
    refusals of a presented token are logged (with the user when the token itself was genuine, e.g. reused
    after logout).

    Behind API Gateway the TOKEN authorizer has verified the token for this very request and hands the
    caller over in `requestContext.authorizer` (gridshare.http.bearer.authorized_caller): the guard takes it
    from there and checks its expiry. Without that context (the local stack's server, the tests' client, a
    context missing anything) the token is verified here in full. Revocation (logout, role change,
    disable) is checked on every request either way: the authorizer's answer may be cached."""
    header = request.headers.get("authorization") or ""
    caller: Caller | None = None
    try:
        presented = _bearer(request.headers)
        check_token_shape(presented)
        # Imported for the first token worth checking: the revocation table's model (PynamoDB, botocore),
        # which public routes and refusals of a missing or malformed token never use.
        from gridshare.http import revocations

        authorized = authorized_caller((request.context or {}).get("authorizer"))
        if authorized is not None:
            assert authorized.expires_at is not None  # for mypy: authorized_caller requires it
            check_not_expired(authorized.expires_at)
            caller = authorized
        else:
            # jwt and cryptography (~45 ms of a cold start) and the JWKS: only without the authorizer's word
            from gridshare.http.auth import verify_access_token

            caller = verify_access_token(presented)
        revocations.assert_token_current(caller)
        return caller
    except errors.AuthenticationFailed as exc:
        if header:
            TOKEN_REFUSALS.record(
                client=_client(request),
                user_id=caller.user_id if caller else None,
                detail={"reason": exc.detail, "path": _instance(request)},
            )
        raise


def _idempotent_response(
    spec: RouteSpec,
    request: Any,
    path_params: dict[str, str],
    caller: Caller,
    body: BaseModel | None,
    run_view: Callable[[RequestIds], Any],
) -> Response:
    """Run the view at most once per caller, route, Idempotency-Key and body (gridshare.http.idempotency)."""
    from gridshare.http.idempotency import HEADER, REPLAYED_HEADER, run_idempotent  # PynamoDB: when used

    outcome = run_idempotent(
        caller.user_id,
        f"{spec.method} {_concrete_path(spec.path, path_params)}",  # a key is scoped to one object
        request.headers.get(HEADER),
        body.model_dump(mode="json") if body is not None else None,
        lambda ids: (spec.status, run_view(ids)),
    )
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(body=outcome.body, status_code=outcome.status, headers=headers)


def _concrete_path(template: str, path_params: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda match: path_params[match.group(1)], template)


def _make_view(blueprint: Blueprint, spec: RouteSpec, view: Callable[..., Any]) -> Callable[..., Response]:
    parameters = inspect.signature(view).parameters
    wants_client, wants_request = "client" in parameters, "request" in parameters
    wants_ids = "ids" in parameters  # an idempotent view that names new objects

    @functools.wraps(view)
    def handle(**path_params: str) -> Response:
        request = blueprint.current_request
        try:
            kwargs: dict[str, Any] = dict(path_params)
            if spec.roles is not None:
                caller = _authenticate(request)
                if caller.role not in spec.roles:
                    raise errors.PermissionDenied("Your role does not allow this operation.")
                kwargs["caller"] = caller
            if spec.body is not None:
                kwargs["body"] = _parse_body(request.raw_body, spec.body)
            if spec.query is not None:
                kwargs["query"] = _parse_query(request.query_params, spec.query)
            if wants_client:
                kwargs["client"] = _client(request)
            if wants_request:  # e.g. a webhook that verifies a signature over the raw body and its headers
                kwargs["request"] = request
            if spec.idempotent:
                result = _idempotent_response(
                    spec,
                    request,
                    path_params,
                    kwargs["caller"],
                    kwargs.get("body"),
                    lambda ids: view(**kwargs, **({"ids": ids} if wants_ids else {})),
                )
            else:
                result = view(**kwargs)
            if not isinstance(result, Response):
                result = Response(
                    body=json.dumps(result, default=str) if result is not None else "",
                    status_code=spec.status,
                    headers={"Content-Type": "application/json"},
                )
        except errors.GridshareError as exc:
            result = problems.from_error(exc, instance=_instance(request))
        except Exception:
            logger.exception("unhandled error in %s %s", spec.method, spec.path)
            result = problems.internal_error(instance=_instance(request))
        result.headers.update(_cors_headers(request))
        return _with_headers(result)

    return handle


class ApiBlueprint:
    """A context's routes. `build()` makes a fresh Chalice Blueprint for each app (Chalice blueprints
    cannot be registered on two apps), so the whole API and each context's Lambda share the views."""

    def __init__(self, context: str) -> None:
        self.context = context
        self._views: list[tuple[RouteSpec, Callable[..., Any]]] = []

    def build(self) -> Blueprint:
        blueprint = Blueprint(f"functions.{self.context}.api")
        for spec, view in self._views:
            blueprint.route(
                spec.path, methods=[spec.method], content_types=["application/json", "application/problem+json"]
            )(_make_view(blueprint, spec, view))
        return blueprint

    def route(
        self,
        path: str,
        method: str = "GET",
        *,
        roles: frozenset[str] | None,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        status: int = 200,
        local_only: bool = False,
        idempotent: bool = False,
        response: type[BaseModel] | type[NoContent] | None = None,
        errors: tuple[int, ...] = (),
        headers: tuple[HeaderParam, ...] = (),
        raw_body: type[BaseModel] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if idempotent and roles is None:
            raise ValueError(f"{method} {path}: an Idempotency-Key is scoped to the caller; the route needs roles")
        _check_response(method, path, status, response)
        if unknown := sorted(set(errors) - ERROR_STATUSES):
            raise ValueError(f"{method} {path}: errors={unknown} are not statuses the API answers with problems")
        assert response is not None  # for mypy: _check_response refused None

        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            spec = RouteSpec(
                context=self.context,
                method=method,
                path=path,
                roles=roles,
                summary=summary,
                body=body,
                query=query,
                status=status,
                view_name=view.__name__,
                local_only=local_only,
                idempotent=idempotent,
                response=response,
                errors=tuple(sorted(set(errors))),
                headers=headers,
                raw_body=raw_body,
            )
            self._views.append((spec, view))
            ROUTES.append(spec)
            return view

        return register


def _check_response(method: str, path: str, status: int, response: object) -> None:
    """Every route declares its 2xx body: a response model, or NO_CONTENT for (and only for) a 204."""
    if response is None:
        raise ValueError(
            f"{method} {path}: declare the 2xx body, response=<a model of gridshare.http.responses> "
            "(Envelope[Item], Page[Item], a model of its own) or NO_CONTENT for a 204"
        )
    if (response is NoContent) != (status == 204):
        raise ValueError(f"{method} {path}: NO_CONTENT is the response of a 204 route, and only of one")
    if response is not NoContent and not (isinstance(response, type) and issubclass(response, BaseModel)):
        raise ValueError(f"{method} {path}: response= must be a pydantic model, got {response!r}")
