"""The settings as a pydantic-settings model, as gridshare.kernel.settings declared them before its plain
reader (2026-12-03): the reference tests/unit/test_kernel_settings.py compares that reader with."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GS_", extra="ignore")

    stage: str = "local"
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    # Identity (Cognito)
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    jwks_url: str = ""  # defaults to the Cognito well-known URL of the pool
    email_sender: str = "no-reply@gridshare.local"
    verification_code_ttl_s: int = 24 * 3600
    # Devices (IoT)
    device_policy_name: str = "gridshare-device"
    cert_issuer: Literal["local", "aws"] = "aws"
    local_ca_dir: str = ""
    mqtt_host: str = ""
    mqtt_port: int = 8883
    # IoT data plane (commands are published through it): https://<prefix>-ats.iot.<region>.amazonaws.com
    iot_data_endpoint: str = ""
    # EventBridge bus of domain events (device status changes); the account's default bus unless set
    event_bus: str = "default"
    # The optional Timestream sink (decision 0020): where it writes; set by CDK when the flag is on.
    timestream_database: str = "gridshare"
    timestream_table: str = "readings"
    # Telemetry
    raw_ttl_days: int = 30
    backfill_days: int = 7
    max_future_s: int = 300
    rollup_devices_per_run: int = Field(default=20_000, ge=1)  # the telemetry rollup job's bound per invocation
    # Identity hardening (issue: identity and access)
    lockout_threshold: int = 5
    lockout_minutes: int = 30
    lockout_window_minutes: int = 30
    ip_failure_limit: int = 20  # failed logins/codes from one IP within the window, across accounts
    reset_code_ttl_s: int = 900
    mfa_session_ttl_s: int = 300
    refresh_session_days: int = 30
    # KMS key (id, ARN or alias) sealing TOTP secrets and held-back refresh tokens (adapters.envelope)
    secrets_key_id: str = ""
    cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser
    # Time budget of one API request's storage loops (gridshare.kernel.deadline); the API Lambdas time out
    # at 15 s (infra_cdk.constants.API_TIMEOUT_S): past this, a list answers the page so far + nextCursor.
    request_deadline_ms: int = Field(default=8_000, ge=100)
    # Wallets (Stripe)
    stripe_secret_arn: str = ""  # Secrets Manager: {"apiKey": "sk_...", "webhookSecrets": ["whsec_...", ...]}
    stripe_api_base: str = ""  # the local stack's Stripe stand-in; empty on AWS (api.stripe.com)
    webhook_tolerance_s: int = 300
    default_currency: str = "EUR"
    # Market (docs/market.md): clearing mechanism, fees per kWh added to the buyer's price (lower inside a
    # community), gate closure before an interval starts, how far ahead orders are accepted
    market_mechanism: Literal["pay_as_clear", "pay_as_bid"] = "pay_as_clear"
    market_grid_fee_minor_per_kwh: int = Field(default=5, ge=0, le=10_000)
    market_community_fee_minor_per_kwh: int = Field(default=2, ge=0, le=10_000)
    market_gate_closure_s: int = Field(default=300, ge=0, le=86_400)
    market_horizon_days: int = Field(default=2, ge=1, le=14)
    settlement_retail_minor_per_kwh: int = Field(default=30, ge=0, le=1_000_000)
    settlement_imbalance_minor_per_kwh: int = Field(default=10, ge=0, le=1_000_000)
    settlement_shard_sites: int = Field(default=500, ge=1, le=100_000)
    settlement_max_concurrency: int = Field(default=10, ge=1, le=10_000)
    settlement_lag_s: int = Field(default=1800, ge=0, le=7 * 86_400)
    settlement_bucket: str = ""
    settlement_state_machine_arn: str = ""
    # The grid's carbon intensity, gCO2 per kWh: communities' "CO2 avoided" (docs/communities.md) and the
    # grid's CO2 intensity of what is not PV (gridshare.grid.metrics)
    grid_intensity_g_per_kwh: int = Field(default=300, ge=0, le=2_000)
    # Alerts (docs/alerts.md): a critical open alert nobody acknowledges is reminded every this many
    # seconds, at most alert_max_reminders times, then escalated to operators
    alert_reminder_every_s: int = Field(default=900, ge=60)
    alert_max_reminders: int = Field(default=4, ge=0, le=20)
    # HMAC key of pagination cursors (gridshare.http.pagination). No default: a key in the code is a key
    # everyone has. CDK passes a generated Secrets Manager value; the local stack, its state dir's key.
    cursor_secret: SecretStr | None = None
    # Notifications (docs/notifications.md): SNS platform applications of the apps' push tokens (created outside
    # the template: they hold FCM/APNs credentials), the queue of single deliveries the notifier fans out to, and
    # the WebSocket API's @connections endpoint (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}).
    push_fcm_application_arn: str = ""
    push_apns_application_arn: str = ""
    deliveries_queue_url: str = ""
    ws_management_endpoint: str = ""
    # Local stack only: exposes /_local routes (outbox). Never set in a deployment.
    local_stack: bool = False

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.issuer}/.well-known/jwks.json"
