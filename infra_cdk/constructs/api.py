"""The REST API: one resource per route path in gridshare.http.api.ROUTES, each method proxied to
its context's Lambda, with the TOKEN authorizer on every protected route.

Why exact paths and not {proxy+}: a Chalice app routes on requestContext.resourcePath, so API Gateway
must present the route's own path ("/v1/devices/{id}"); and per-method authorization types are what
makes a public route public at the edge, not only in the code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from gridshare.http import problems
from gridshare.http.api import RouteSpec
from gridshare.kernel import errors
from infra_cdk import constants
from infra_cdk.constructs.shared import LOG_RETENTION
from infra_cdk.routes import deployed_routes
from infra_cdk.settings import DeploySettings

_DETAIL = "__detail__"


def problem_template(body: dict[str, object], *, keep_status: bool) -> str:
    """A gateway response body in the API's own problem shape, with API Gateway's message as detail.

    Default 4XX/5XX responses cover several statuses, so they leave `status` out (RFC 9457 makes it
    advisory); the HTTP status line still carries it.
    """
    document = {k: v for k, v in body.items() if k not in ("detail", "instance") and (keep_status or k != "status")}
    document["detail"] = _DETAIL
    # $context.error.messageString is already a quoted JSON string.
    return json.dumps(document).replace(f'"{_DETAIL}"', "$context.error.messageString")


def _problem_of(error: errors.GridshareError | None) -> dict[str, object]:
    """The problem body the Lambdas would send for this error (gridshare.http.problems decides)."""
    response = problems.from_error(error) if error is not None else problems.internal_error()
    return dict(json.loads(response.body))


# response type -> (problem the API itself uses, status override, keep the status member)
GATEWAY_RESPONSES: tuple[tuple[apigw.ResponseType, errors.GridshareError | None, str | None, bool], ...] = (
    (apigw.ResponseType.DEFAULT_4_XX, errors.BadRequest(""), None, False),
    (apigw.ResponseType.DEFAULT_5_XX, None, None, False),
    (apigw.ResponseType.UNAUTHORIZED, errors.AuthenticationFailed(""), "401", True),
    (apigw.ResponseType.ACCESS_DENIED, errors.PermissionDenied(""), "403", True),
    (apigw.ResponseType.THROTTLED, errors.TooManyRequests(""), "429", True),
    # API Gateway answers an unknown path or method with 403 "Missing Authentication Token"; say 404.
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, errors.NotFound(""), "404", True),
)


def auth_method_throttling(routes: tuple[RouteSpec, ...]) -> dict[str, apigw.MethodDeploymentOptions]:
    """Tighter throttling on every state-changing /v1/auth/* method (login, register, refresh, codes,
    2FA), keyed as CDK wants it: `<resource path>/<METHOD>`. It applies to all clients together; the
    WAF (constructs/firewall.py) limits each IP."""
    return {
        f"{spec.path}/{spec.method.upper()}": apigw.MethodDeploymentOptions(
            throttling_rate_limit=constants.AUTH_RATE_LIMIT,
            throttling_burst_limit=constants.AUTH_BURST_LIMIT,
        )
        for spec in routes
        if spec.path.startswith(constants.AUTH_PATH_PREFIX) and spec.method.upper() != "GET"
    }


def deployment_stack(scope: Construct) -> Stack:
    """The top-level stack (the API lives in a nested stack, whose own name CloudFormation generates)."""
    stack = Stack.of(scope)
    while stack.nested_stack_parent is not None:
        stack = stack.nested_stack_parent
    return stack


class GatewayApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploySettings,
        functions: Mapping[str, lambda_.Function],
        authorizer_function: lambda_.Function,
    ) -> None:
        super().__init__(scope, construct_id)
        routes = deployed_routes()
        missing = sorted({spec.context for spec in routes} - set(functions))
        if missing:
            raise ValueError(f"routes of {missing} have no Lambda: add the context's construct to the stack")

        access_logs = logs.LogGroup(self, "access-logs", retention=LOG_RETENTION)
        cors = None
        if settings.cors_origins:
            cors = apigw.CorsOptions(
                allow_origins=list(settings.cors_origins),
                allow_methods=sorted({spec.method.upper() for spec in routes}),
                allow_headers=["Authorization", "Content-Type"],
                max_age=Duration.hours(1),
            )
        self.rest_api = apigw.RestApi(
            self,
            "rest-api",
            rest_api_name=f"{deployment_stack(self).stack_name}-api",
            description="Gridshare REST API (routes from gridshare.http.api.ROUTES)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Access logging needs API Gateway's account-level CloudWatch role (one per account and
            # region: see infra_cdk/README.md when a second stack shares the account).
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=settings.stage,
                throttling_rate_limit=constants.API_RATE_LIMIT,
                throttling_burst_limit=constants.API_BURST_LIMIT,
                method_options=auth_method_throttling(routes),
                tracing_enabled=True,
                metrics_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(
                        {
                            "requestId": apigw.AccessLogField.context_request_id(),
                            "ip": apigw.AccessLogField.context_identity_source_ip(),
                            "time": apigw.AccessLogField.context_request_time_epoch(),
                            "method": apigw.AccessLogField.context_http_method(),
                            "resource": apigw.AccessLogField.context_resource_path(),
                            "status": apigw.AccessLogField.context_status(),
                            "length": apigw.AccessLogField.context_response_length(),
                            "latencyMs": apigw.AccessLogField.context_response_latency(),
                            "principal": apigw.AccessLogField.context_authorizer_principal_id(),
                            # The authorizer's Lambda request id: its log lines' correlation id (a TOKEN
                            # authorizer never sees the request's id), so the two can be joined.
                            "authorizerRequestId": apigw.AccessLogField.context_authorizer_request_id(),
                            "error": apigw.AccessLogField.context_error_message(),
                            "xray": apigw.AccessLogField.context_xray_trace_id(),
                        }
                    )
                ),
            ),
            default_cors_preflight_options=cors,
        )
        # Every request is verified afresh (TTL 0): a disabled user or a revoked token must be refused at
        # once, not when a cached Allow expires.
        self.authorizer = apigw.TokenAuthorizer(
            self,
            "token-authorizer",
            handler=authorizer_function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.seconds(0),
        )
        # One invoke permission per context function, scoped to this API (`<api>/*/*/*`), not one per method:
        # a permission per method (88 with the grid and communities) pushed the stack past CloudFormation's
        # 500 resources. The API is ours and routes each path to its own context's function only, so the
        # wider source ARN lets API Gateway call a function through no route it does not already have.
        integrations = {
            context: apigw.LambdaIntegration(function, proxy=True, scope_permission_to_method=False)
            for context, function in functions.items()
        }
        for spec in routes:
            self.rest_api.root.resource_for_path(spec.path).add_method(
                spec.method.upper(),
                integrations[spec.context],
                authorization_type=apigw.AuthorizationType.CUSTOM if spec.protected else apigw.AuthorizationType.NONE,
                authorizer=self.authorizer if spec.protected else None,
            )
        self._add_gateway_responses(settings)

    def _add_gateway_responses(self, settings: DeploySettings) -> None:
        """Errors API Gateway produces itself get the same application/problem+json shape as the API's."""
        headers = {"Content-Type": f"'{problems.PROBLEM_CONTENT_TYPE}'"}
        if len(settings.cors_origins) == 1:  # a static header can name one origin only
            headers["Access-Control-Allow-Origin"] = f"'{settings.cors_origins[0]}'"
        for response_type, error, status, keep_status in GATEWAY_RESPONSES:
            extra = {"WWW-Authenticate": "'Bearer realm=\"gridshare\"'"} if status == "401" else {}
            self.rest_api.add_gateway_response(
                f"gateway-{response_type.response_type.lower().replace('_', '-')}",
                type=response_type,
                status_code=status,
                response_headers={**headers, **extra},
                templates={"application/json": problem_template(_problem_of(error), keep_status=keep_status)},
            )

    @property
    def stage(self) -> apigw.Stage:
        return self.rest_api.deployment_stage

    @property
    def url(self) -> str:
        return self.rest_api.url
