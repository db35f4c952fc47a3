"""Deployment choices read from CDK context (cdk.json or `-c name=value`), parsed once per stack.

`-c flag=true` arrives as the string "true" while cdk.json may hold a real boolean or list, so every
value is normalised here instead of in each construct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from infra_cdk import constants

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"CDK context '{name}' must be true or false, not {value!r}")


def _bounded(name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"CDK context '{name}' must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"CDK context '{name}' must be between {low} and {high}, not {number}")
    return number


def _retention(value: Any) -> int:
    """Raw readings' retention in days: a whole number the archive has time to run within (decision 0024)."""
    from gridshare.telemetry.retention import RetentionError, RetentionPolicy

    days = _bounded(constants.CTX_TELEMETRY_RAW_RETENTION_DAYS, value, 1, 3650)
    try:
        RetentionPolicy(raw_retention_days=days)
    except RetentionError as exc:
        raise ValueError(f"CDK context '{constants.CTX_TELEMETRY_RAW_RETENTION_DAYS}': {exc}") from None
    return days


def _origins(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(item.strip() for item in items if item and item.strip())


@dataclass(frozen=True)
class DeploySettings:
    stage: str
    iot_endpoint: str
    email_sender: str
    cors_origins: tuple[str, ...]
    timestream: bool
    bundle_dependencies: bool
    timestream_memory_hours: int = 24
    timestream_magnetic_days: int = 365
    settlement_lag_s: int = 1800
    settlement_max_concurrency: int = 40
    telemetry_raw_retention_days: int = 35

    @property
    def iot_endpoint_configured(self) -> bool:
        return self.iot_endpoint != constants.IOT_ENDPOINT_PLACEHOLDER

    @property
    def email_sender_configured(self) -> bool:
        return self.email_sender != constants.EMAIL_SENDER_PLACEHOLDER

    @classmethod
    def from_scope(cls, scope: Construct) -> DeploySettings:
        def get(name: str, default: Any) -> Any:
            value = scope.node.try_get_context(name)
            return default if value is None else value

        stage = str(get(constants.CTX_STAGE, constants.DEFAULT_STAGE)).strip()
        if not _STAGE.match(stage):
            raise ValueError(f"CDK context 'stage' must match {_STAGE.pattern}, not {stage!r}")
        return cls(
            stage=stage,
            iot_endpoint=str(get(constants.CTX_IOT_ENDPOINT, constants.IOT_ENDPOINT_PLACEHOLDER)).strip(),
            email_sender=str(get(constants.CTX_EMAIL_SENDER, constants.EMAIL_SENDER_PLACEHOLDER)).strip(),
            cors_origins=_origins(get(constants.CTX_CORS_ORIGINS, None)),
            timestream=_flag(constants.CTX_TIMESTREAM, get(constants.CTX_TIMESTREAM, False)),
            bundle_dependencies=_flag(constants.CTX_BUNDLE_DEPENDENCIES, get(constants.CTX_BUNDLE_DEPENDENCIES, False)),
            timestream_memory_hours=_bounded(
                constants.CTX_TIMESTREAM_MEMORY_HOURS, get(constants.CTX_TIMESTREAM_MEMORY_HOURS, 24), 1, 8766
            ),
            timestream_magnetic_days=_bounded(
                constants.CTX_TIMESTREAM_MAGNETIC_DAYS, get(constants.CTX_TIMESTREAM_MAGNETIC_DAYS, 365), 1, 73000
            ),
            settlement_lag_s=_bounded(
                constants.CTX_SETTLEMENT_LAG_S, get(constants.CTX_SETTLEMENT_LAG_S, 1800), 0, 86_400
            ),
            settlement_max_concurrency=_bounded(
                constants.CTX_SETTLEMENT_MAX_CONCURRENCY, get(constants.CTX_SETTLEMENT_MAX_CONCURRENCY, 40), 1, 10_000
            ),
            telemetry_raw_retention_days=_retention(get(constants.CTX_TELEMETRY_RAW_RETENTION_DAYS, 35)),
        )
