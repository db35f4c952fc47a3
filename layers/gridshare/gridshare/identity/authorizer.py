"""API Gateway TOKEN authorizer: the same verification the routes run (gridshare.http.auth).

Observed like every entry (gridshare.kernel.observability). A TOKEN event carries no API Gateway request
id, so its log lines are correlated by the invocation's request id, which the API's access log records as
`authorizerRequestId` next to the request's own id.
"""

from __future__ import annotations

from typing import Any

from gridshare.http.bearer import check_token_shape
from gridshare.kernel.errors import AuthenticationFailed
from gridshare.kernel.observability import lambda_request_id, observed


@observed(correlation_id=lambda_request_id)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        token = event.get("authorizationToken", "")
        check_token_shape(token)  # a missing or malformed token is refused before jwt is imported
        from gridshare.http.auth import verify_access_token
        from gridshare.identity.sessions import assert_token_current

        caller = verify_access_token(token)
        assert_token_current(caller)  # revoked (logout, role change) or disabled: refused here too
    except AuthenticationFailed:
        # API Gateway answers 401 only for this exact message.
        raise Exception("Unauthorized") from None  # noqa: B904,TRY002
    arn_parts = event["methodArn"].split(":")
    api_id, stage = arn_parts[5].split("/")[:2]
    resource = ":".join(arn_parts[:5]) + f":{api_id}/{stage}/*"
    return {
        "principalId": caller.user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": caller.as_context(),
    }
