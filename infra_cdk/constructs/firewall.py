"""The API's web application firewall: per-IP rate limits in front of the REST API stage.

Two rate-based rules, both per client IP over `WAF_WINDOW_S`: a tight one on the auth flows (login,
2FA, reset and verification codes are what an attacker guesses) and a looser one on the whole API.
Both answer a blocked request with 429 and the API's own problem+json body. The in-app lockout and
throttling counters (gridshare.identity.throttling) stay the precise defence; this layer keeps floods
from ever reaching a Lambda. API Gateway's stage and method throttling (constructs/api.py) caps all
clients together.
"""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from gridshare.http import problems
from gridshare.kernel import errors
from infra_cdk import constants

BLOCKED_BODY_KEY = "too-many-requests"
BLOCKED_STATUS = 429


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=f"{constants.WAF_METRIC_PREFIX}-{metric}",
        sampled_requests_enabled=True,
    )


def _path_starts_with(prefix: str) -> wafv2.CfnWebACL.StatementProperty:
    """URI path starts with `prefix`, after URL-decoding and path normalization (`//`, `/./`, `/../`), so
    an encoded or padded path cannot slip past the rule."""
    return wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            positional_constraint="STARTS_WITH",
            search_string=prefix,
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE"),
                wafv2.CfnWebACL.TextTransformationProperty(priority=1, type="NORMALIZE_PATH"),
            ],
        )
    )


def _auth_paths(stage: str) -> wafv2.CfnWebACL.StatementProperty:
    """The auth routes as WAF sees them: on the execute-api endpoint the path carries the stage
    (`/dev/v1/auth/login`); behind a custom domain mapped at the root it does not (`/v1/auth/login`)."""
    return wafv2.CfnWebACL.StatementProperty(
        or_statement=wafv2.CfnWebACL.OrStatementProperty(
            statements=[
                _path_starts_with(f"/{stage}{constants.AUTH_PATH_PREFIX}"),
                _path_starts_with(constants.AUTH_PATH_PREFIX),
            ]
        )
    )


def _rate_rule(
    name: str, priority: int, limit: int, scope_down: wafv2.CfnWebACL.StatementProperty | None
) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP",
                limit=limit,
                evaluation_window_sec=constants.WAF_WINDOW_S,
                scope_down_statement=scope_down,
            )
        ),
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=BLOCKED_STATUS,
                    custom_response_body_key=BLOCKED_BODY_KEY,
                )
            )
        ),
        visibility_config=_visibility(name),
    )


def blocked_body() -> str:
    """The problem the API itself answers when it throttles (gridshare.http.problems)."""
    document = json.loads(problems.from_error(errors.TooManyRequests("Too many requests from this address.")).body)
    return json.dumps(document)


class ApiFirewall(Construct):
    """A regional web ACL (default allow) with the rate rules, associated with the API's stage."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: apigw.Stage) -> None:
        super().__init__(scope, construct_id)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "web-acl",
            name=f"{Stack.of(self).stack_name}-api",
            description="Gridshare API: per-IP rate limits, tighter on the /v1/auth/ routes",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("api-acl"),
            custom_response_bodies={
                BLOCKED_BODY_KEY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=blocked_body(),
                )
            },
            rules=[
                _rate_rule("auth-rate-per-ip", 0, constants.WAF_AUTH_LIMIT_PER_IP, _auth_paths(stage.stage_name)),
                _rate_rule("api-rate-per-ip", 1, constants.WAF_API_LIMIT_PER_IP, None),
            ],
        )
        # The stage ARN refers to the stage resource (Ref), so CloudFormation associates it only once the
        # stage exists; tests/infra checks that reference.
        self.association = wafv2.CfnWebACLAssociation(
            self,
            "stage-association",
            resource_arn=stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
