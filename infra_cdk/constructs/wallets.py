"""Wallets context: the ledger and wallet tables, the Stripe secret, the wallets API function, and the
alarms that say when money stops moving.

Tables come from the context models (gridshare.contexts) (OWNERS["wallets"]). The ledger's transactions and entries
are append-only (issue 5: corrections are reversals, never edits), so the function may read them and
PutItem them (a TransactWriteItems Put is authorized as PutItem), never update or delete one: IAM, not
only the hash chain, keeps an intruder in the function from rewriting history. Balances (the account
items) are updated in place, so they are read/write, as are payments, withdrawals, refunds, Stripe events
and idempotency keys.

The Stripe secret holds `{"apiKey": "sk_live_or_test...", "webhookSecrets": ["whsec_...", ...]}` (the
shape `gridshare.kernel.settings.Settings.stripe_secret_arn` documents and the local stack provisions). The
stack creates it with a generated placeholder key that Stripe refuses and no webhook secret (every delivery
is refused), so an unconfigured deployment fails closed; an operator puts the real value once (see
infra_cdk/README.md). The function reads it at run time (GS_STRIPE_SECRET_ARN, GetSecretValue on that
one secret), so the key never enters the template or the function's environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from gridshare.contexts import owned_tables
from gridshare.http.idempotency import IdempotencyKeyModel
from gridshare.ledger.models import LedgerAccountModel, LedgerEntryModel, LedgerTransactionModel
from gridshare.wallets.models import PaymentModel, RefundModel, StripeEventModel, WithdrawalModel
from infra_cdk import constants
from infra_cdk.constructs.shared import SharedRuntime
from infra_cdk.routes import api_handler
from infra_cdk.tables import Access, grant_table_access, tables_for

CONTEXT = "wallets"

# What the wallets API touches (gridshare.wallets.service, gridshare.ledger.store).
API_TABLES = {
    LedgerTransactionModel: Access.READ_APPEND,  # conditional put of the id; replays read it back
    LedgerEntryModel: Access.READ_APPEND,  # append-only, hash-chained per account
    LedgerAccountModel: Access.READ_WRITE,  # balance and chain head: ADD/SET under a condition
    PaymentModel: Access.READ_WRITE,
    WithdrawalModel: Access.READ_WRITE,
    StripeEventModel: Access.READ_WRITE,
    IdempotencyKeyModel: Access.READ_WRITE,
    RefundModel: Access.READ_WRITE,  # reserved on the payment in one transaction, then settled
}

STRIPE_SECRET_ENV: Final = "GS_STRIPE_SECRET_ARN"  # gridshare.kernel.settings.Settings.stripe_secret_arn
# The secret's JSON as the stack creates it: apiKey is generated (random, not an `sk_` key: Stripe refuses it)
# and there is no webhook secret, so every delivery is refused until an operator puts the real value. Never a
# known placeholder: a webhook signed with a secret anyone can read in this file would credit wallets.
STRIPE_SECRET_TEMPLATE: Final[dict[str, list[str]]] = {"webhookSecrets": []}
STRIPE_SECRET_GENERATED_KEY: Final = "apiKey"

# The message gridshare.http.api logs (logger.exception) when a view raises: the request was answered 500.
UNHANDLED_ERROR_LOG_TERM: Final = "unhandled error"
UNHANDLED_ERRORS_METRIC: Final = "WalletsUnhandledErrors"
WEBHOOK_PATH: Final = "/v1/payments/stripe/webhook"
WEBHOOK_REFUSALS_THRESHOLD: Final = 10  # 4xx answers to the webhook in 15 minutes


class WalletsContext(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtime: SharedRuntime, built: Mapping[str, Construct]
    ) -> None:
        super().__init__(scope, construct_id)
        # A wallet table the function is not granted would reach a default-named table and fail at run time:
        # fail the synth instead, and say which model needs a grant level here.
        ungranted = sorted(m.Meta.logical_name for m in set(owned_tables(CONTEXT)) - set(API_TABLES))
        if ungranted:
            raise ValueError(f"wallet tables without an access level in constructs/wallets.py API_TABLES: {ungranted}")
        self.tables = tables_for(self, owned_tables(CONTEXT))

        self.stripe_secret = secretsmanager.Secret(
            self,
            "stripe-secret",
            description=(
                'Stripe credentials of the wallets context: {"apiKey": "sk_live_or_test...", '
                '"webhookSecrets": ["whsec_...", ...]} (several during a rotation). Created with a placeholder: '
                "put the real value before taking payments."
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(STRIPE_SECRET_TEMPLATE),
                generate_string_key=STRIPE_SECRET_GENERATED_KEY,
                password_length=32,
                exclude_punctuation=True,
            ),
        )

        self.api_function = runtime.create_function(
            self,
            "api",
            handler=api_handler(CONTEXT),
            service="wallets-api",
            description="Wallets: balances, top-ups (Stripe), webhook, withdrawals, refunds, statements",
            environment={
                STRIPE_SECRET_ENV: self.stripe_secret.secret_arn,
                **runtime.cursor_secret_environment(),
            },
        )
        grant_table_access(self.api_function, self.tables, API_TABLES)
        # Exactly this secret, read only: no DescribeSecret, no wildcard suffix, no other secret.
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadStripeSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.stripe_secret.secret_arn],
            )
        )

        self.alarms = self._function_alarms()

    def _function_alarms(self) -> list[cloudwatch.Alarm]:
        """The wallets function failed (crash, timeout, out of memory: API Gateway answered 502/504), or a
        wallets view raised (the API answered 500; counted from the function's log)."""
        function = self.api_function
        unhandled = logs.MetricFilter(
            self,
            "unhandled-errors",
            log_group=function.log_group,
            filter_pattern=logs.FilterPattern.literal(f'"{UNHANDLED_ERROR_LOG_TERM}"'),
            metric_namespace=constants.SERVICE_NAMESPACE,
            metric_name=UNHANDLED_ERRORS_METRIC,
            metric_value="1",
            default_value=0,
        )
        return [
            _alarm_above(
                self,
                "api-errors-alarm",
                "The wallets function failed (error, timeout): money requests got 502/504",
                function.metric_errors(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
                0,
            ),
            _alarm_above(
                self,
                "api-5xx-alarm",
                "A wallets route answered 500 (an unhandled error): see the wallets function's log",
                unhandled.metric(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
                0,
            ),
        ]

    def add_webhook_alarms(self, rest_api: apigw.RestApi, stage: apigw.Stage) -> list[cloudwatch.Alarm]:
        """The Stripe webhook answered 5xx (Stripe retries, but no credit is posted meanwhile), or keeps
        refusing deliveries (4xx): the signing secret is wrong, e.g. a rotation was not put in the secret.

        Per-method API Gateway metrics: the stage has detailed metrics on (constructs/api.py).
        """
        alarms = []
        for metric_name, threshold, period, description in (
            ("5XXError", 0, Duration.minutes(5), "The Stripe webhook answered 5xx: credits are not being posted"),
            (
                "4XXError",
                WEBHOOK_REFUSALS_THRESHOLD - 1,
                Duration.minutes(15),
                "The Stripe webhook keeps refusing deliveries: check the signing secrets in the Stripe secret",
            ),
        ):
            metric = cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name=metric_name,
                dimensions_map={
                    "ApiName": rest_api.rest_api_name,
                    "Stage": stage.stage_name,
                    "Method": "POST",
                    "Resource": WEBHOOK_PATH,
                },
                period=period,
                statistic=cloudwatch.Stats.SUM,
            )
            alarms.append(_alarm_above(self, f"webhook-{metric_name.lower()}-alarm", description, metric, threshold))
        self.alarms += alarms
        return alarms


def _alarm_above(
    scope: Construct, construct_id: str, description: str, metric: cloudwatch.IMetric, threshold: float
) -> cloudwatch.Alarm:
    """An alarm when the metric is above the threshold in one period; no data is not a breach. No action
    yet, like the queue alarms: wire an SNS topic when notifications land."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


CONSTRUCT = WalletsContext
