"""Configuration from the environment, read lazily, validated as a pydantic-settings model would.

Never read at import time, so a test or the local stack can set the environment (moto endpoint,
table names) before the first use. Every variable is prefixed ``GS_`` (``region`` is ``AWS_REGION``).

The fields are declared once, below. Reading them needs no pydantic: pydantic-settings with pydantic cost
60-90 ms of every Lambda's cold start, and most functions import pydantic for nothing else. The plain
reader accepts only values whose meaning is unambiguous (a decimal integer within the field's bounds, one
of pydantic's boolean words, a member of a Literal, any string); anything else (a malformed number, a value
out of bounds, an unknown choice) is handed to a pydantic-settings model built from the same declarations,
which either parses it as before or raises the same `ValidationError` as before. So every environment gets
exactly the values, or the error, it got when the settings were a pydantic-settings model
(tests/unit/test_kernel_settings.py compares the two).
"""

from __future__ import annotations

import os
import re
import threading
import typing
from functools import cache, lru_cache
from typing import Any, Literal

ENV_PREFIX = "GS_"
_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
# pydantic's boolean words (case-insensitive); anything else goes to pydantic
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class SecretStr:
    """A string kept out of reprs and logs (as pydantic's SecretStr): read it with get_secret_value()."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')" if self._value else "SecretStr('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _Field:
    """A field's default, bounds and (for an unprefixed variable) its environment name."""

    __slots__ = ("default", "env", "ge", "le")

    def __init__(self, default: Any, *, env: str | None = None, ge: int | None = None, le: int | None = None) -> None:
        self.default, self.env, self.ge, self.le = default, env, ge, le


def _field(default: Any, *, env: str | None = None, ge: int | None = None, le: int | None = None) -> Any:
    return _Field(default, env=env, ge=ge, le=le)


class _Declarations:
    """The fields (annotations and defaults) of Settings; the class body below is their one declaration."""

    stage: str = "local"
    region: str = _field("us-east-1", env="AWS_REGION")
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
    rollup_devices_per_run: int = _field(20_000, ge=1)  # the telemetry rollup job's bound per invocation
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
    request_deadline_ms: int = _field(8_000, ge=100)
    # Wallets (Stripe)
    stripe_secret_arn: str = ""  # Secrets Manager: {"apiKey": "sk_...", "webhookSecrets": ["whsec_...", ...]}
    stripe_api_base: str = ""  # the local stack's Stripe stand-in; empty on AWS (api.stripe.com)
    webhook_tolerance_s: int = 300
    default_currency: str = "EUR"
    # Market (docs/market.md): clearing mechanism, fees per kWh added to the buyer's price (lower inside a
    # community), gate closure before an interval starts, how far ahead orders are accepted
    market_mechanism: Literal["pay_as_clear", "pay_as_bid"] = "pay_as_clear"
    market_grid_fee_minor_per_kwh: int = _field(5, ge=0, le=10_000)
    market_community_fee_minor_per_kwh: int = _field(2, ge=0, le=10_000)
    market_gate_closure_s: int = _field(300, ge=0, le=86_400)
    market_horizon_days: int = _field(2, ge=1, le=14)
    # Settlement (docs/settlement.md, decision 0023): the grid's retail tariff for shortfalls and the
    # imbalance charge, per kWh; sites per shard, shards settled at once, how long after delivery the schedule
    # waits for late readings; the manifest bucket and the state machine (set by CDK and the local stack)
    settlement_retail_minor_per_kwh: int = _field(30, ge=0, le=1_000_000)
    settlement_imbalance_minor_per_kwh: int = _field(10, ge=0, le=1_000_000)
    settlement_shard_sites: int = _field(500, ge=1, le=100_000)
    settlement_max_concurrency: int = _field(10, ge=1, le=10_000)
    settlement_lag_s: int = _field(1800, ge=0, le=7 * 86_400)
    settlement_bucket: str = ""
    settlement_state_machine_arn: str = ""
    # The grid's carbon intensity, gCO2 per kWh: communities' "CO2 avoided" (docs/communities.md) and the
    # grid's CO2 intensity of what is not PV (gridshare.grid.metrics)
    grid_intensity_g_per_kwh: int = _field(300, ge=0, le=2_000)
    # Alerts (docs/alerts.md): a critical open alert nobody acknowledges is reminded every this many
    # seconds, at most alert_max_reminders times, then escalated to operators
    alert_reminder_every_s: int = _field(900, ge=60)
    alert_max_reminders: int = _field(4, ge=0, le=20)
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


class Settings(_Declarations):
    """The settings: the environment (GS_*, AWS_REGION), then keyword arguments by field name (or by
    `env` name for an unprefixed one), validated; unknown keywords are ignored."""

    def __init__(self, **values: Any) -> None:
        environ = {name.lower(): value for name, value in os.environ.items()}
        given = {key.lower(): value for key, value in values.items()}
        parsed: dict[str, Any] = {}
        for name, (kind, spec) in _specs().items():
            source = (spec.env or name).lower()
            if source in given:
                value = _plain(kind, spec, given[source], from_env=False)
            elif (spec.env or ENV_PREFIX + name).lower() in environ:
                value = _plain(kind, spec, environ[(spec.env or ENV_PREFIX + name).lower()], from_env=True)
            else:
                value = spec.default
            if value is _UNSURE:
                parsed = _validated_by_pydantic(values)
                break
            parsed[name] = value
        for name, value in parsed.items():
            setattr(self, name, value)

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.issuer}/.well-known/jwks.json"


_UNSURE = object()


@cache
def _specs() -> dict[str, tuple[Any, _Field]]:
    """Field name -> (its type, its declaration), in declaration order."""
    hints = typing.get_type_hints(_Declarations, globalns={**globals(), "Literal": Literal})
    found: dict[str, tuple[Any, _Field]] = {}
    for name, kind in hints.items():
        declared = _Declarations.__dict__[name]
        found[name] = (kind, declared if isinstance(declared, _Field) else _Field(declared))
    return found


def _plain(kind: Any, spec: _Field, value: Any, *, from_env: bool) -> Any:
    """The value as pydantic would validate it, or _UNSURE when only pydantic can say."""
    if kind is str:
        return value if isinstance(value, str) else _UNSURE
    if kind is bool:
        if isinstance(value, bool):
            return value
        word = value.lower() if isinstance(value, str) else None
        return True if word in _TRUE else False if word in _FALSE else _UNSURE
    if kind is int:
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return _UNSURE
        if (spec.ge is not None and value < spec.ge) or (spec.le is not None and value > spec.le):
            return _UNSURE
        return value
    if typing.get_origin(kind) is Literal:
        return value if value in typing.get_args(kind) else _UNSURE
    if kind == SecretStr | None:
        if value is None and not from_env:
            return None
        return SecretStr(value) if isinstance(value, str) else _UNSURE
    return _UNSURE


_model_lock = threading.Lock()


@cache
def _pydantic_model() -> Any:
    """A pydantic-settings model of the same fields (imported only when a value needs it)."""
    import pydantic
    from pydantic_settings import BaseSettings, SettingsConfigDict

    fields: dict[str, Any] = {}
    for name, (kind, spec) in _specs().items():
        annotation = pydantic.SecretStr | None if kind == SecretStr | None else kind
        extra: dict[str, Any] = {"validation_alias": spec.env} if spec.env else {}
        fields[name] = (annotation, pydantic.Field(default=spec.default, ge=spec.ge, le=spec.le, **extra))
    base = type(
        "SettingsBase", (BaseSettings,), {"model_config": SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")}
    )
    return pydantic.create_model("Settings", __base__=base, **fields)


def _validated_by_pydantic(values: dict[str, Any]) -> dict[str, Any]:
    """Every field as the pydantic-settings model reads it (raises its ValidationError)."""
    with _model_lock:
        model = _pydantic_model()
    validated = model(**values)
    out: dict[str, Any] = {}
    for name, (kind, _spec) in _specs().items():
        value = getattr(validated, name)
        if kind == SecretStr | None and value is not None:
            value = SecretStr(value.get_secret_value())
        out[name] = value
    return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
