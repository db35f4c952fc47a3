"""Device commands: what each device type accepts, and the life of one command (pure, no AWS).

A command is issued `sent` with a deadline (`expires_at`); the device's acknowledgement moves it to a
final state (`succeeded`, `failed`, `rejected`), or the expiry schedule moves it to `timed_out` once the
deadline has passed. Invariants, each kept by the functions here and relied on by the store's
conditional writes (gridshare.devices.command_store):

- a final state never changes: a duplicate ack, or an ack after the expiry, changes nothing but
  `late_ack` (the first ack that came too late is kept, for diagnosis; later ones are ignored);
- an ack that arrives after `expires_at` (before the schedule ran) is late too: the command times out and
  keeps the ack as `late_ack`, so the outcome does not depend on when the schedule happened to run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final, Literal, cast, get_args

from gridshare.kernel import errors
from gridshare.kernel.clock import to_iso

CommandStatus = Literal["sent", "succeeded", "failed", "rejected", "timed_out"]
AckStatus = Literal["succeeded", "failed", "rejected"]
SENT: Final = "sent"
TIMED_OUT: Final = "timed_out"
ACK_STATUSES: tuple[AckStatus, ...] = get_args(AckStatus)
FINAL_STATUSES: frozenset[str] = frozenset({*ACK_STATUSES, TIMED_OUT})
MIN_TIMEOUT_S, MAX_TIMEOUT_S, DEFAULT_TIMEOUT_S = 5, 3600, 60


def validate_command(device_type: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The command's parameters, validated for this device type; InvalidInput (422) naming the field
    (`name`, or `params.<field>`) otherwise."""
    # pydantic, imported when a command is issued: the ack and expiry functions never validate parameters
    from pydantic import ValidationError

    from gridshare.devices.command_catalogue import COMMANDS

    known = COMMANDS.get(device_type, {})
    model = known.get(name)
    if model is None:
        choices = ", ".join(sorted(known)) or "none"
        raise errors.InvalidInput(
            f"A {device_type} does not know the command {name!r}.",
            errors=[errors.FieldError("name", f"not a {device_type} command; known: {choices}")],
        )
    try:
        return model.model_validate(params).model_dump()
    except ValidationError as exc:
        found = [
            errors.FieldError(".".join(["params", *(str(part) for part in item["loc"])]), item["msg"])
            for item in exc.errors()
        ]
        raise errors.InvalidInput(f"The parameters of {name} are not valid.", errors=found) from None


# --------------------------------------------------------------------------------------- one command
@dataclass(frozen=True)
class Ack:
    status: AckStatus
    result: dict[str, Any]
    at: int  # epoch ms, when the backend received it


@dataclass(frozen=True)
class Command:
    id: str  # = the correlation id the device echoes
    device_id: str
    name: str
    params: dict[str, Any]
    status: CommandStatus
    issued_at: int
    expires_at: int
    completed_at: int | None = None
    result: dict[str, Any] | None = None
    late_ack: Ack | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


def issue(command_id: str, device_id: str, name: str, params: dict[str, Any], now: int, timeout_s: int) -> Command:
    if not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
        raise ValueError(f"timeout_s must be within {MIN_TIMEOUT_S}..{MAX_TIMEOUT_S}")
    return Command(command_id, device_id, name, params, SENT, now, now + timeout_s * 1000)


def apply_ack(command: Command, ack: Ack) -> Command:
    """The command after the device's ack (the same object when the ack changes nothing)."""
    if command.status == SENT and ack.at <= command.expires_at:
        return replace(command, status=ack.status, result=ack.result, completed_at=ack.at)
    if command.status == SENT:  # past the deadline, the schedule just had not run yet
        return replace(command, status=TIMED_OUT, completed_at=command.expires_at, late_ack=ack)
    if command.status == TIMED_OUT and command.late_ack is None:
        return replace(command, late_ack=ack)
    return command


def expire(command: Command, now: int) -> Command:
    """The command once its deadline has passed (unchanged before it, or when it is final)."""
    if command.status == SENT and now > command.expires_at:
        return replace(command, status=TIMED_OUT, completed_at=command.expires_at)
    return command


def command_message(command: Command) -> dict[str, Any]:
    """What the device receives on gs/v1/{thing}/commands (docs/devices.md)."""
    return {
        "correlationId": command.id,
        "name": command.name,
        "params": command.params,
        "issuedAt": to_iso(command.issued_at),
        "expiresAt": to_iso(command.expires_at),
    }


def parse_ack(document: Any, received_at: int) -> tuple[str, Ack]:
    """(correlation id, ack) from the device's ack message; ValueError naming what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("an ack is a JSON object")
    correlation_id = document.get("correlationId")
    status = document.get("status")
    result = document.get("result", {})
    if not isinstance(correlation_id, str) or not correlation_id:
        raise ValueError("correlationId: a string is required")
    if status not in ACK_STATUSES:
        raise ValueError(f"status: one of {', '.join(ACK_STATUSES)}")
    if result is None:
        result = {}
    if not isinstance(result, dict):
        raise ValueError("result: an object")
    return correlation_id, Ack(cast(AckStatus, status), result, received_at)
