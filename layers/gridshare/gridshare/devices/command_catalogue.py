"""What each device type accepts: a command's parameters as pydantic models (gridshare.devices.commands
validates with them). Imported when a command is issued, never by the ack and expiry functions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CommandParams(BaseModel):
    """Base of a command's parameters: unknown fields refused, camelCase as the device receives them."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoParams(CommandParams):
    pass


class SetReportInterval(CommandParams):
    intervalS: int = Field(ge=5, le=86_400, description="seconds between readings")  # noqa: N815 - wire name


class SetPower(CommandParams):
    powerW: int = Field(  # noqa: N815 - wire name
        ge=-100_000, le=100_000, description="battery set point in W: positive charges, negative discharges"
    )


class SetPowerLimit(CommandParams):
    limitPct: int = Field(ge=0, le=100, description="export limit, % of rated power")  # noqa: N815 - wire name


COMMANDS: dict[str, dict[str, type[CommandParams]]] = {
    "meter": {"reset_counters": NoParams, "set_report_interval": SetReportInterval},
    "battery": {"set_power": SetPower},
    "gas_sensor": {"self_test": NoParams, "valve_close": NoParams},
    "inverter": {"set_power_limit": SetPowerLimit, "restart": NoParams},
}
