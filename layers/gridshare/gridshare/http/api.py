"""The one way a route is declared: path, method, the roles it admits, its input models.

`ApiBlueprint.route` registers a Chalice view and a `RouteSpec` in `ROUTES`, the table that the OpenAPI
document, the CDK API (which methods get the authorizer) and the authorization tests are built from.
The wrapper checks the caller's token itself (the caller API Gateway's authorizer verified, when it is
handed over, else a full verification: gridshare.http.bearer, gridshare.http.auth), parses the body and
query into pydantic models (a plainly valid query without pydantic, by its model's spec:
gridshare.http.lean_query), and turns every error into an RFC 9457 problem; views only call a service.

Every route declares its 2xx body (`response=`, a model of gridshare.http.responses, or `NO_CONTENT` for a
204): a route without one does not register. `errors=` lists the error statuses a route's service can
answer beyond those its declaration implies (401/403 from roles, 404 from a path parameter, 400/413/415/422
from a body, 400/422 from a query, 500 anywhere: gridshare.http.openapi), e.g. 409 or 429; `headers=`
documents request headers a view reads itself (e.g. `Stripe-Signature`).

A route names its models (`body="TopupBody"`, `query=`, `response="Envelope[Wallet]"`: `ApiBlueprint`);
each is imported and resolved the first time the route needs it, so declaring the routes, and answering
one that parses neither a body nor a query, imports no pydantic (a Lambda's cold start: the models of a
context live in its `requests.py` and `responses.py`, the bases in gridshare.http.models). Nor does
answering a query the lean parser accepts: the model is resolved only when the parser leaves it the call.

A route declared `idempotent=True` (money requests) honours an `Idempotency-Key` header: the wrapper runs
the view under `gridshare.http.idempotency.run_idempotent`, keyed by caller, method and concrete path, so
a retry replays the first response (`Idempotent-Replayed: true`) instead of acting twice. Such a view
returns its response body (answered with the route's `status`) and may take `ids`, the `RequestIds` its
new objects are named from: the same on every run of one key.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from gridshare.http import problems
from gridshare.http.bearer import authorized_caller, check_not_expired, check_token_shape
from gridshare.http.no_content import NoContent
from gridshare.kernel import errors
from gridshare.kernel.roles import ROLE_ORDER, Caller, ClientInfo
from gridshare.kernel.settings import get_settings

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

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
class ModelNames:
    """Where a blueprint's model names are looked up: its request (body and query) models and its response
    models. A name is imported the first time a route needs the model, never at declaration."""

    requests: str
    responses: str

    def request(self, name: str) -> type[BaseModel]:
        found = getattr(importlib.import_module(self.requests), name, None)
        if found is None:
            raise ValueError(f"{self.requests} has no model named {name!r}")
        return _model(found, name)

    def response(self, name: str) -> type[BaseModel]:
        """A model's name, or a generic of names (`Envelope[Item]`, `Page[Item]`, `Envelope[A | B]`): each
        name looked up in the responses module, then in gridshare.http.responses (Envelope, Page)."""
        try:
            expression = ast.parse(name, mode="eval").body
        except SyntaxError:
            raise ValueError(f"{name!r} is not a model name, nor Generic[Model]") from None
        return _model(self._evaluate(expression, name), name)

    def _evaluate(self, node: ast.expr, name: str) -> Any:
        if isinstance(node, ast.Name):
            from gridshare.http import responses

            for module in (importlib.import_module(self.responses), responses):
                if (found := getattr(module, node.id, None)) is not None:
                    return found
            raise ValueError(f"{self.responses} has no model named {node.id!r}")
        if isinstance(node, ast.Subscript):
            return self._evaluate(node.value, name)[self._evaluate(node.slice, name)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._evaluate(node.left, name) | self._evaluate(node.right, name)
        raise ValueError(f"{name!r} is not a model name, nor Generic[Model] (nor Generic[A | B])")


def _model(found: object, name: str) -> type[BaseModel]:
    from pydantic import BaseModel

    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise ValueError(f"{name!r} must name a pydantic model, got {found!r}")
    return found


@dataclass(frozen=True)
class RouteSpec:
    """A route as declared. Its models are held by name (`body_ref`, `query_ref`, `response_ref`,
    `raw_body_ref`) and resolved on first access of `body`, `query`, `response`, `raw_body` (then kept):
    declaring, registering or answering a route that parses neither a body nor a query imports no model."""

    context: str
    method: str
    path: str
    roles: frozenset[str] | None  # None: public (no token)
    summary: str
    body_ref: str | type[BaseModel] | None
    query_ref: str | type[BaseModel] | None
    status: int
    view_name: str
    local_only: bool = False
    idempotent: bool = False  # honours an Idempotency-Key header (money requests)
    # the 2xx body (gridshare.http.responses): a response model, or NO_CONTENT for a 204
    response_ref: str | type[BaseModel] | type[NoContent] = NoContent
    errors: tuple[int, ...] = ()  # error statuses beyond those implied (see gridshare.http.openapi)
    headers: tuple[HeaderParam, ...] = ()  # request headers the view reads itself
    raw_body_ref: str | type[BaseModel] | None = None  # a body the view reads raw (signed bytes): documented only
    names: ModelNames | None = field(default=None, compare=False)  # where the refs' names are looked up

    @property
    def protected(self) -> bool:
        return self.roles is not None

    @functools.cached_property
    def body(self) -> type[BaseModel] | None:
        return self._request_model(self.body_ref)

    @functools.cached_property
    def query(self) -> type[BaseModel] | None:
        return self._request_model(self.query_ref)

    @functools.cached_property
    def raw_body(self) -> type[BaseModel] | None:
        return self._request_model(self.raw_body_ref)

    @functools.cached_property
    def response(self) -> type[BaseModel] | type[NoContent]:
        ref = self.response_ref
        if ref is NoContent:
            return NoContent
        try:
            if isinstance(ref, str):
                return self._names().response(ref)
            return _model(ref, repr(ref))
        except ValueError as exc:
            raise ValueError(f"{self.method} {self.path}: response= {exc}") from None

    def _request_model(self, ref: str | type[BaseModel] | None) -> type[BaseModel] | None:
        if ref is None:
            return None
        try:
            return self._names().request(ref) if isinstance(ref, str) else _model(ref, repr(ref))
        except ValueError as exc:
            raise ValueError(f"{self.method} {self.path}: {exc}") from None

    def _names(self) -> ModelNames:
        if self.names is None:
            raise ValueError("a model named by a string needs the blueprint's modules (ApiBlueprint(models=...))")
        return self.names

    def resolve(self) -> RouteSpec:
        """Resolve every model the route names (the tests do, for every route: a misnamed model fails there)."""
        for name in ("body", "query", "raw_body", "response"):
            getattr(self, name)
        return self

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
    from pydantic import ValidationError  # with the model: a route without a body imports no pydantic

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


def _parse_query(params: Mapping[str, str] | None, spec: RouteSpec) -> Any:
    """The route's query: parsed without pydantic when its model's spec says the parameters are plainly
    valid (gridshare.http.lean_query), else by the model itself (which words any error)."""
    given = dict(params or {})
    if isinstance(spec.query_ref, str) and spec.names is not None:
        from gridshare.http import lean_query

        lean = lean_query.parse(f"{spec.names.requests}:{spec.query_ref}", given)
        if lean is not None:
            return lean
    assert spec.query is not None  # for mypy: a named model resolves to one
    return _validate_query(given, spec.query)


def _validate_query(params: dict[str, str], model: type[BaseModel]) -> BaseModel:
    from pydantic import ValidationError  # with the model: a route without a query imports no pydantic

    try:
        return model.model_validate(params)
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
            if spec.body_ref is not None:
                assert spec.body is not None  # for mypy: a named model resolves to one
                kwargs["body"] = _parse_body(request.raw_body, spec.body)
            if spec.query_ref is not None:  # its model is resolved only if the lean parser declines
                kwargs["query"] = _parse_query(request.query_params, spec)
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
    cannot be registered on two apps), so the whole API and each context's Lambda share the views.

    A route names its models: `body="TopupBody"` and `query=` in `models` (default
    `gridshare.<context>.requests`), `response="Envelope[Wallet]"`, `"Page[LedgerEntry]"` or a model's name
    in `responses` (default `gridshare.<context>.responses`), or NO_CONTENT. The names are resolved when a
    request needs the model (and checked then: `RouteSpec.resolve`); a model class is accepted as well."""

    def __init__(self, context: str, *, models: str | None = None, responses: str | None = None) -> None:
        self.context = context
        self.names = ModelNames(
            requests=models or f"gridshare.{context}.requests",
            responses=responses or f"gridshare.{context}.responses",
        )
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
        body: str | type[BaseModel] | None = None,
        query: str | type[BaseModel] | None = None,
        status: int = 200,
        local_only: bool = False,
        idempotent: bool = False,
        response: str | type[BaseModel] | type[NoContent] | None = None,
        errors: tuple[int, ...] = (),
        headers: tuple[HeaderParam, ...] = (),
        raw_body: str | type[BaseModel] | None = None,
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
                body_ref=body,
                query_ref=query,
                status=status,
                view_name=view.__name__,
                local_only=local_only,
                idempotent=idempotent,
                response_ref=response,
                errors=tuple(sorted(set(errors))),
                headers=headers,
                raw_body_ref=raw_body,
                names=self.names,
            )
            self._views.append((spec, view))
            ROUTES.append(spec)
            return view

        return register


def _check_response(method: str, path: str, status: int, response: object) -> None:
    """Every route declares its 2xx body: a response model, or NO_CONTENT for (and only for) a 204. That the
    name is a pydantic model is checked where it resolves (RouteSpec.response)."""
    if response is None:
        raise ValueError(
            f"{method} {path}: declare the 2xx body, response=<a model of gridshare.http.responses> "
            "(Envelope[Item], Page[Item], a model of its own) or NO_CONTENT for a 204"
        )
    if (response is NoContent) != (status == 204):
        raise ValueError(f"{method} {path}: NO_CONTENT is the response of a 204 route, and only of one")
    if response is NoContent or isinstance(response, str):
        return
    if isinstance(response, type):  # a class given as such (not by name): checked here, where it is written
        from pydantic import BaseModel

        if issubclass(response, BaseModel):
            return
    raise ValueError(f"{method} {path}: response= must be a pydantic model, got {response!r}")
