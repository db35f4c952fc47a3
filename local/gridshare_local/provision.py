"""Creates, in moto, the resources the CDK app defines, from the same sources.

Tables from the PynamoDB models, Cognito groups and password policy, queues, event sources and schedules
(whose targets are local stand-in functions named after them) from gridshare.kernel.resources, the device
policy and CA registration for IoT, the KMS key that seals identity secrets (infra_cdk/constructs/identity.py),
the Stripe secret (the JSON shape infra_cdk/constructs/wallets.py creates; tests/infra checks the two agree).
Returns the environment the functions need (what CDK passes as Lambda environment variables).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from gridshare.contexts import ensure_tables
from gridshare.kernel import resources
from gridshare.kernel.aws import new_client

ACCOUNT = "123456789012"
STRIPE_SECRET_NAME = "gridshare/stripe"
SECRETS_KEY_ALIAS = "alias/gridshare-secrets"
ARCHIVE_BUCKET = "gridshare-local-telemetry-archive"  # the deployed stack passes its key's ARN instead


@dataclass(frozen=True)
class StripeCredentials:
    """What the wallets function reads from the Stripe secret: the API key and the webhook signing secrets
    (several during a rotation; a signature made with any of them is accepted)."""

    api_key: str
    webhook_secrets: tuple[str, ...]

    def secret_value(self) -> dict[str, Any]:
        """The secret's JSON: `{"apiKey": "sk_...", "webhookSecrets": ["whsec_...", ...]}`."""
        return {"apiKey": self.api_key, "webhookSecrets": list(self.webhook_secrets)}


@dataclass
class Provisioned:
    env: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)


def provision(
    region: str,
    *,
    email_sender: str,
    cursor_secret: str,
    ca_cert_pem: str | None = None,
    stripe: StripeCredentials | None = None,
    timestream: bool = False,
) -> Provisioned:
    """Create the resources; `cursor_secret` is the functions' GS_CURSOR_SECRET (CDK generates one per
    stack; the local stack keeps one per state directory, gridshare_local.state_secrets)."""
    out = Provisioned()
    out.env["GS_CURSOR_SECRET"] = cursor_secret
    ensure_tables()

    idp = new_client("cognito-idp", region_name=region)
    pool = idp.create_user_pool(
        PoolName="gridshare-users",
        Policies={"PasswordPolicy": resources.PASSWORD_POLICY},
        UsernameAttributes=[],
        AliasAttributes=["email"],
        MfaConfiguration="OPTIONAL",
        Schema=[
            {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
            {"Name": "name", "AttributeDataType": "String", "Required": False, "Mutable": True},
        ],
    )["UserPool"]
    app_client = idp.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="gridshare-app",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AccessTokenValidity=resources.ACCESS_TOKEN_MINUTES,
        RefreshTokenValidity=resources.REFRESH_TOKEN_DAYS,
        TokenValidityUnits={"AccessToken": "minutes", "RefreshToken": "days", "IdToken": "minutes"},
    )["UserPoolClient"]
    for group, precedence in resources.USER_GROUPS:
        idp.create_group(UserPoolId=pool["Id"], GroupName=group, Precedence=precedence)
    out.env["GS_USER_POOL_ID"] = pool["Id"]
    out.env["GS_USER_POOL_CLIENT_ID"] = app_client["ClientId"]
    out.env["GS_SECRETS_KEY_ID"] = provision_secrets_key(region)

    sqs = new_client("sqs", region_name=region)
    for spec in (*resources.QUEUES, *([resources.TIMESTREAM_QUEUE] if timestream else [])):
        dlq_url = sqs.create_queue(QueueName=f"{spec.name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=spec.name,
            Attributes={
                "VisibilityTimeout": str(spec.visibility_timeout_s),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
                ),
            },
        )["QueueUrl"]
        out.queue_urls[spec.name] = url
        out.queue_urls[f"{spec.name}-dlq"] = dlq_url

    provision_event_rules(region, out.queue_urls)
    if timestream:
        out.env.update(provision_timestream(region, out.queue_urls))
    out.env.update(provision_notifications(region, out.queue_urls))

    iot = new_client("iot", region_name=region)
    iot.create_policy(
        policyName=resources.DEVICE_POLICY_NAME,
        policyDocument=json.dumps(resources.device_policy_document(region, ACCOUNT)),
    )
    if ca_cert_pem:
        iot.register_ca_certificate(caCertificate=ca_cert_pem, setAsActive=True, allowAutoRegistration=False)
    for rule in resources.topic_rules():
        iot.create_topic_rule(ruleName=rule["name"], topicRulePayload=_rule_payload(rule, region, out.queue_urls))
    out.env["GS_DEVICE_POLICY_NAME"] = resources.DEVICE_POLICY_NAME
    # Commands are published through moto's iot-data (the local stack forwards them to its broker,
    # gridshare_local.iot_data); in-process moto (tests) answers IoT Core's own data endpoint.
    out.env["GS_IOT_DATA_ENDPOINT"] = (
        os.environ.get("AWS_ENDPOINT_URL") or f"https://data-ats.iot.{region}.amazonaws.com"
    )

    scheduler = new_client("scheduler", region_name=region)
    for schedule in resources.SCHEDULES:
        for name, payload in schedule.invocations():  # one per segment, all invoking the spec's function
            scheduler.create_schedule(
                Name=name,
                ScheduleExpression=schedule.expression,
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={
                    "Arn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{schedule.name}",
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/gridshare-scheduler",
                    "Input": payload,
                },
            )
    out.env.update(provision_archive(region))

    ses = new_client("ses", region_name=region)
    ses.verify_email_identity(EmailAddress=email_sender)
    out.env["GS_EMAIL_SENDER"] = email_sender

    if stripe is not None:
        out.env["GS_STRIPE_SECRET_ARN"] = provision_stripe_secret(region, stripe)
    out.env.update(provision_settlement(region))
    return out


# The settlement state machine's Lambda tasks: local function name -> handler (the local stack's dispatcher
# runs them in-process when moto's interpreter invokes them; CDK names its own functions).
SETTLEMENT_FUNCTIONS: dict[str, str] = {
    "gridshare-settlement-prepare": "functions.settlement.prepare.handler",
    "gridshare-settlement-shard": "functions.settlement.settle_shard.handler",
    "gridshare-settlement-finalize": "functions.settlement.finalize.handler",
    "gridshare-settlement-failed": "functions.settlement.mark_failed.handler",
}
SETTLEMENT_BUCKET = "gridshare-settlement-manifests"


def settlement_definition(region: str, bucket: str = SETTLEMENT_BUCKET) -> str:
    """``state_machines/settlement.asl.json`` with its placeholders substituted, as CDK's
    ``definition_substitutions`` do (the four task functions' ARNs, the manifest bucket)."""
    text = (resources.REPO_ROOT / "state_machines" / "settlement.asl.json").read_text()
    arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:"
    names = dict(zip(("Prepare", "SettleShard", "Finalize", "MarkFailed"), SETTLEMENT_FUNCTIONS, strict=True))
    values = {f"{step}FunctionArn": arn + name for step, name in names.items()} | {"ManifestBucket": bucket}
    for placeholder, value in values.items():
        text = text.replace("${" + placeholder + "}", value)
    if "${" in text:
        raise ValueError("state_machines/settlement.asl.json has a placeholder the local stack does not fill")
    return text


def provision_settlement(region: str) -> dict[str, str]:
    """The manifest bucket and the settlement state machine (STANDARD) from the same file CDK loads; the
    environment the API and the schedule start executions with."""
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    new_client("s3", region_name=region).create_bucket(Bucket=SETTLEMENT_BUCKET, **where)
    machine = new_client("stepfunctions", region_name=region).create_state_machine(
        name="gridshare-settlement",
        definition=settlement_definition(region),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/gridshare-settlement",
        type="STANDARD",
    )["stateMachineArn"]
    return {"GS_SETTLEMENT_BUCKET": SETTLEMENT_BUCKET, "GS_SETTLEMENT_STATE_MACHINE_ARN": machine}


def provision_event_rules(
    region: str, queue_urls: dict[str, str], rules: tuple[resources.EventRuleSpec, ...] | None = None
) -> None:
    """resources.EVENT_RULES on moto's default bus: moto delivers matching put_events to the SQS target."""
    rules = resources.EVENT_RULES if rules is None else rules
    if not rules:
        return
    events = new_client("events", region_name=region)
    sqs = new_client("sqs", region_name=region)
    for rule in rules:
        url = queue_urls[rule.queue]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=rule.name, EventPattern=json.dumps(rule.pattern()), State="ENABLED")
        events.put_targets(Rule=rule.name, Targets=[{"Id": rule.queue, "Arn": arn}])


def provision_timestream(region: str, queue_urls: dict[str, str]) -> dict[str, str]:
    """The optional Timestream sink (decision 0020) on moto: database, table, and the ReadingsAccepted
    rule to the sink's queue (provisioned with the other queues); the local stack then polls it."""
    database, table = "gridshare-local-telemetry", "readings"
    writer = new_client("timestream-write", region_name=region)
    writer.create_database(DatabaseName=database)
    writer.create_table(
        DatabaseName=database,
        TableName=table,
        RetentionProperties={"MemoryStoreRetentionPeriodInHours": 24, "MagneticStoreRetentionPeriodInDays": 365},
    )
    provision_event_rules(region, queue_urls, (resources.TIMESTREAM_RULE,))
    return {"GS_TIMESTREAM_DATABASE": database, "GS_TIMESTREAM_TABLE": table}


def provision_notifications(region: str, queue_urls: dict[str, str]) -> dict[str, str]:
    """The SNS platform applications push tokens register with (on AWS made outside the stack, with the FCM and
    APNs credentials; infra_cdk/constructs/notifications.py) and the deliveries queue the notifier fans out to."""
    sns = new_client("sns", region_name=region)
    arns = {
        platform: sns.create_platform_application(
            Name=f"gridshare-{platform.lower()}", Platform=platform, Attributes={"PlatformCredential": "local"}
        )["PlatformApplicationArn"]
        for platform in ("GCM", "APNS")
    }
    return {
        "GS_PUSH_FCM_APPLICATION_ARN": arns["GCM"],
        "GS_PUSH_APNS_APPLICATION_ARN": arns["APNS"],
        "GS_DELIVERIES_QUEUE_URL": queue_urls["notification-deliveries"],
    }


def provision_archive(region: str) -> dict[str, str]:
    """The raw-readings archive bucket (decision 0024; CDK: infra_cdk/constructs/telemetry.py) on moto S3, and
    the retention the functions run with (the CDK context's default unless GS_TELEMETRY_RAW_RETENTION_DAYS is
    set for the stack)."""
    from gridshare.telemetry.retention import BUCKET_ENV, RETENTION_ENV, retention_policy

    bucket = ARCHIVE_BUCKET
    s3 = new_client("s3", region_name=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return {BUCKET_ENV: bucket, RETENTION_ENV: str(retention_policy().raw_retention_days)}


def provision_secrets_key(region: str) -> str:
    """The identity context's KMS key (symmetric, rotated, as in CDK) under an alias; returns the alias."""
    kms = new_client("kms", region_name=region)
    created = kms.create_key(Description="Identity: seals TOTP secrets and pending 2FA logins at rest")
    key_id = created["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    kms.create_alias(AliasName=SECRETS_KEY_ALIAS, TargetKeyId=key_id)
    return SECRETS_KEY_ALIAS


def provision_stripe_secret(region: str, stripe: StripeCredentials) -> str:
    """The Stripe secret in moto's Secrets Manager; returns its ARN (GS_STRIPE_SECRET_ARN)."""
    secrets = new_client("secretsmanager", region_name=region)
    created = secrets.create_secret(
        Name=STRIPE_SECRET_NAME,
        Description="Stripe credentials of the wallets context (local stack: the Stripe stand-in's keys)",
        SecretString=json.dumps(stripe.secret_value()),
    )
    return str(created["ARN"])


def read_stripe_secret(region: str, arn: str) -> StripeCredentials:
    """The Stripe secret as the wallets function reads it (`gridshare pay confirm` uses its API key)."""
    value = json.loads(new_client("secretsmanager", region_name=region).get_secret_value(SecretId=arn)["SecretString"])
    return StripeCredentials(api_key=str(value["apiKey"]), webhook_secrets=tuple(value["webhookSecrets"]))


def _rule_payload(rule: dict[str, Any], region: str, queue_urls: dict[str, str]) -> dict[str, Any]:
    def action(spec: dict[str, Any]) -> dict[str, Any]:
        queue = spec["sqs"]["queue"]
        return {
            "sqs": {
                "queueUrl": queue_urls[queue],
                "roleArn": f"arn:aws:iam::{ACCOUNT}:role/gridshare-iot-rules",
                "useBase64": False,
            }
        }

    payload: dict[str, Any] = {
        "sql": rule["sql"],
        "awsIotSqlVersion": rule.get("awsIotSqlVersion", "2016-03-23"),
        "ruleDisabled": False,
        "actions": [action(a) for a in rule["actions"]],
    }
    if rule.get("errorAction"):
        payload["errorAction"] = action(rule["errorAction"])
    return payload
