"""The devices context's request models: bodies and queries its routes name (`body=`, `query=`).

Imported the first time a route parses a body or a query (gridshare.http.api), never by one that parses
neither: the devices api modules, and a request to a route that parses neither, import no pydantic.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from gridshare.devices import config
from gridshare.devices import health as H
from gridshare.devices.commands import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from gridshare.http.models import ApiModel, QueryModel
from gridshare.http.pagination import DEFAULT_LIMIT, MAX_LIMIT


class CreateDeviceBody(ApiModel):
    name: str = Field(min_length=1, max_length=120)
    type: Literal["meter", "inverter", "battery", "gas_sensor"]
    csr: str | None = Field(
        default=None,
        max_length=16_384,
        pattern=r"^\s*-----BEGIN CERTIFICATE REQUEST-----[\s\S]+-----END CERTIFICATE REQUEST-----\s*$",
        description="PEM PKCS#10 CSR, signed by its key; with it, the private key never leaves the device",
    )


class ListQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
    status: Literal["never_seen", "online", "offline", "decommissioned"] | None = Field(
        default=None, description="only these"
    )


class IssueCertificateBody(ApiModel):
    csr: str | None = CreateDeviceBody.model_fields["csr"]  # the same PEM CSR as at provisioning


class CertificateListQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class SendCommandBody(ApiModel):
    name: str = Field(min_length=1, max_length=64, description="a command the device's type knows")
    params: dict[str, Any] = Field(default_factory=dict, description="the command's parameters")
    timeout_s: int = Field(
        default=DEFAULT_TIMEOUT_S,
        ge=MIN_TIMEOUT_S,
        le=MAX_TIMEOUT_S,
        description="seconds the device has to acknowledge before the command times out",
    )


class CommandListQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


class CalibrationBody(ApiModel):
    offset: float = Field(default=0, description="added after scaling, in the metric's unit")
    scale: float = Field(default=1, description="multiplies the raw value; never 0")


class ConfigBody(ApiModel):
    """The whole desired configuration: a field left out is removed from the shadow's desired state."""

    report_interval_s: int | None = Field(
        default=None,
        ge=config.MIN_REPORT_INTERVAL_S,
        le=config.MAX_REPORT_INTERVAL_S,
        description=f"seconds between readings, {config.MIN_REPORT_INTERVAL_S}..{config.MAX_REPORT_INTERVAL_S}",
    )
    calibration: dict[str, CalibrationBody] | None = Field(
        default=None, description="per metric of the device's type: value * scale + offset, applied at ingest"
    )
    tank_capacity_kg: float | None = Field(
        default=None,
        ge=config.TYPE_FIELDS["tankCapacityKg"][1],
        le=config.TYPE_FIELDS["tankCapacityKg"][2],
        description="gas sensors only",
    )
    low_level_pct: float | None = Field(
        default=None,
        ge=config.TYPE_FIELDS["lowLevelPct"][1],
        le=config.TYPE_FIELDS["lowLevelPct"][2],
        description="gas sensors only: the low-level alert threshold",
    )


MAX_METADATA_KEYS = 20


SiteRole = Literal["production", "consumption", "storage", "grid_meter"]


class DevicePatch(ApiModel):
    """Any of a device's settings; those left out stay."""

    EMPTY_BODY_ALLOWED: ClassVar[bool] = True

    name: str | None = Field(default=None, min_length=1, max_length=120)
    offline_after_s: int | None = Field(
        default=None,
        ge=H.MIN_OFFLINE_AFTER_S,
        le=H.MAX_OFFLINE_AFTER_S,
        description="seconds of silence after which the device is offline",
    )
    metadata: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_METADATA_KEYS,
        description=f"labels (replaces the old ones): at most {MAX_METADATA_KEYS} keys of 1-64 characters, "
        "values of at most 256",
    )

    site_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the site to put the device on (attach, or move from its site), null to take it off; "
        "the site must be the device owner's",
    )
    site_role: SiteRole | None = Field(
        default=None,
        description="its role on the site, only with a siteId; default: the same role on the same site, else by "
        "type (inverter production, battery storage, meter grid_meter, gas_sensor consumption)",
    )

    @field_validator("metadata")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, text in (value or {}).items():
            if not 1 <= len(key) <= 64:
                raise ValueError("keys are 1-64 characters")
            if len(text) > 256:
                raise ValueError(f"the value of '{key}' is over 256 characters")
        return value


class HistoryQuery(QueryModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
