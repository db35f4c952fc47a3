"""Names shared by the CDK app and the infrastructure tests.

Output names, tag keys and fixed runtime choices live here once, so a test that looks a resource up by
name cannot drift from the construct that created it (STYLE.md item 10).
"""

from __future__ import annotations

from typing import Final

STACK_PREFIX: Final = "gridshare"
SERVICE_NAMESPACE: Final = "Gridshare"  # POWERTOOLS_METRICS_NAMESPACE and CloudWatch namespace

# CfnOutput ids of GridshareStack
OUTPUT_API_URL: Final = "ApiUrl"
OUTPUT_USER_POOL_ID: Final = "UserPoolId"
OUTPUT_USER_POOL_CLIENT_ID: Final = "UserPoolClientId"
OUTPUT_DEVICE_POLICY_NAME: Final = "DevicePolicyName"
OUTPUT_IOT_ENDPOINT: Final = "IotEndpoint"

# Every DynamoDB table carries its model's logical name in this tag: operators and tests find a table by
# what it holds, whatever CloudFormation called it.
TABLE_TAG: Final = "gridshare:table"

# Lambda defaults (DESIGN.md section 5): one runtime and architecture for every function and the layer.
LAMBDA_MEMORY_MB: Final = 512
API_TIMEOUT_S: Final = 15  # below API Gateway's 29 s integration limit
AUTHORIZER_TIMEOUT_S: Final = 10  # a JWKS fetch may take up to 5 s on a cold container
LOG_RETENTION_DAYS: Final = 30

# API Gateway stage throttling (per stage, all methods)
API_RATE_LIMIT: Final = 100
API_BURST_LIMIT: Final = 200
# Tighter method throttling on the public /v1/auth/* POST routes (login, register, reset, refresh, ...):
# per method and for all clients together, so it caps a credential-stuffing burst from many IPs, which
# the WAF's per-IP rules cannot. Requests per second, and burst.
AUTH_PATH_PREFIX: Final = "/v1/auth/"
AUTH_RATE_LIMIT: Final = 20
AUTH_BURST_LIMIT: Final = 40

# WAF rate-based rules (per client IP, over WAF_WINDOW_S seconds; WAF allows 60, 120, 300 or 600)
WAF_WINDOW_S: Final = 300
WAF_API_LIMIT_PER_IP: Final = 300  # every request to the API
WAF_AUTH_LIMIT_PER_IP: Final = 50  # requests whose path starts with AUTH_PATH_PREFIX
WAF_METRIC_PREFIX: Final = "gridshare"

# CDK context flags (cdk.json or `-c name=value`)
CTX_STAGE: Final = "stage"
CTX_IOT_ENDPOINT: Final = "iot_endpoint"
CTX_EMAIL_SENDER: Final = "email_sender"
CTX_CORS_ORIGINS: Final = "cors_origins"
CTX_TIMESTREAM: Final = "timestream"
CTX_BUNDLE_DEPENDENCIES: Final = "bundle_dependencies"
CTX_TIMESTREAM_MEMORY_HOURS: Final = "timestream_memory_hours"  # memory store retention (hours, 1..8766)
CTX_TIMESTREAM_MAGNETIC_DAYS: Final = "timestream_magnetic_days"  # magnetic store retention (days, 1..73000)
CTX_SETTLEMENT_LAG_S: Final = "settlement_lag_s"  # delivery end -> settled, for late readings (s, 0..86400)
CTX_SETTLEMENT_MAX_CONCURRENCY: Final = "settlement_max_concurrency"  # shards settled at once (1..10000)
# Raw telemetry readings expire (DynamoDB TTL) this many days after their ts, archived to S3 before
# (decision 0024; gridshare.telemetry.retention checks the archive has time to run first).
CTX_TELEMETRY_RAW_RETENTION_DAYS: Final = "telemetry_raw_retention_days"

DEFAULT_STAGE: Final = "dev"
# Placeholders: a deployment with them synthesizes (and warns) but devices get a useless MQTT host and
# SES refuses the sender. Pass the real values with -c (see infra_cdk/README.md).
IOT_ENDPOINT_PLACEHOLDER: Final = "iot-endpoint-not-configured.invalid"
EMAIL_SENDER_PLACEHOLDER: Final = "no-reply@example.com"

# Where the synthesized app stages what it ships, relative to the cloud assembly directory.
LAYER_STAGING_DIR: Final = "layer"  # <outdir>/layer/python/gridshare
FUNCTIONS_STAGING_DIR: Final = "functions-src"  # <outdir>/functions-src/functions


def stack_name(stage: str) -> str:
    return f"{STACK_PREFIX}-{stage}"


def table_env_var(logical_name: str) -> str:
    """The variable gridshare.kernel.tables.table_name() reads (tests check the two agree)."""
    return f"GS_TABLE_{logical_name.upper()}"
