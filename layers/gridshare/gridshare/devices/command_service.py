"""Device commands: issue (store, then publish on gs/v1/{thing}/commands), read, take acks, expire.

The command id is the correlation id the device echoes in its ack. Acks arrive through the commands-ack
IoT rule (gridshare.devices.command_events); the thing that sent one is the topic's, never the payload's,
so a device can only answer commands sent to itself: an ack naming another device's command is not
found under the sender and is ignored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from gridshare.devices import commands
from gridshare.devices.command_store import CommandStore, StaleCommand
from gridshare.devices.command_updates import CommandUpdatePublisher, EventBridgeCommandUpdates
from gridshare.devices.commands import Ack, Command
from gridshare.devices.dead_letters import COMMAND_ACK, DeviceDeadLetters, dead_letter_view
from gridshare.devices.iot import CommandPublisher, IotDataPublisher
from gridshare.devices.models import DeviceModel
from gridshare.devices.service import DeviceService, topics_for
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.kernel.roles import Caller

logger = logging.getLogger("gridshare.devices.commands")
_EXPIRY_PAGE, _EXPIRY_ROUNDS = 100, 20
_ATTEMPTS = 3  # re-reads after a conflicting write (an ack racing the expiry): each re-read settles it


def command_view(command: Command) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": command.id,
        "deviceId": command.device_id,
        "name": command.name,
        "params": command.params,
        "status": command.status,
        "issuedAt": to_iso(command.issued_at),
        "expiresAt": to_iso(command.expires_at),
        "completedAt": to_iso(command.completed_at) if command.completed_at is not None else None,
        "result": command.result,
    }
    if command.late_ack is not None:
        view["lateAck"] = {
            "status": command.late_ack.status,
            "result": command.late_ack.result,
            "receivedAt": to_iso(command.late_ack.at),
        }
    return view


@dataclass
class CommandService:
    store: CommandStore = field(default_factory=CommandStore)
    publisher: CommandPublisher = field(default_factory=IotDataPublisher)
    dead_letters: DeviceDeadLetters = field(default_factory=DeviceDeadLetters)
    updates: CommandUpdatePublisher = field(default_factory=EventBridgeCommandUpdates)

    def issue(
        self, caller: Caller, device_id: str, name: str, params: dict[str, Any], timeout_s: int
    ) -> dict[str, Any]:
        device = DeviceService.get_owned(caller, device_id)
        if device.decommissioned_at is not None:
            raise errors.Conflict("The device is decommissioned: it takes no new commands.")
        valid = commands.validate_command(device.type, name, params)
        command = commands.issue(new_id(), device.id, name, valid, now_ms(), timeout_s)
        self.store.add(command)
        try:
            self.publisher.publish(topics_for(device.thing_name)["commands"], commands.command_message(command))
        except errors.Unavailable:
            # Never delivered: the device cannot answer it, so it must not wait for the schedule as `sent`.
            self._settle(
                command,
                lambda c: commands.apply_ack(c, Ack("failed", {"error": "not published"}, now_ms())),
                owner_id=device.owner_id,
            )
            raise
        logger.info("command sent", extra={"deviceId": device.id, "commandId": command.id, "command": name})
        return command_view(command)

    def get(self, caller: Caller, device_id: str, command_id: str) -> dict[str, Any]:
        device = DeviceService.get_owned(caller, device_id)
        command = self.store.get(device.id, command_id)
        if command is None:
            raise errors.NotFound("No such command.")
        return command_view(command)

    def list(
        self, caller: Caller, device_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        device = DeviceService.get_owned(caller, device_id)
        start = decode_cursor(cursor)
        if start is not None and start.get("device_id", {}).get("S") != device.id:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        found, last = self.store.list(device.id, limit, start)
        return [command_view(c) for c in found], encode_cursor(last)

    # ------------------------------------------------------------ from devices and the schedule
    def acknowledge(self, thing_name: str, document: Any, received_at: int, payload: bytes | None = None) -> str:
        """Apply a device's ack; returns what happened (for logs and metrics): `applied`, `late`,
        `duplicate`, `unknown` (no such command for this thing) or `invalid`. An invalid or unknown ack
        is dead-lettered with its reason (``payload``: the bytes received, else the document as JSON)."""
        raw = payload if payload is not None else json.dumps(document).encode()
        try:
            correlation_id, ack = commands.parse_ack(document, received_at)
        except ValueError as exc:
            logger.warning("invalid command ack", extra={"thing": thing_name, "reason": str(exc)})
            self.dead_letter(thing_name, raw, received_at, [("ack", str(exc))])
            return "invalid"
        device = DeviceService.find_by_thing(thing_name)
        command = self.store.get(device.id, correlation_id) if device is not None else None
        if command is None:
            logger.warning("ack for no command of this thing", extra={"thing": thing_name, "commandId": correlation_id})
            reason = "no such command for this thing" if device is not None else "no such thing"
            self.dead_letter(thing_name, raw, received_at, [("correlationId", reason)])
            return "unknown"
        before, after = self._settle(command, lambda c: commands.apply_ack(c, ack), owner_id=device.owner_id)
        if after == before:
            return "duplicate"
        return "applied" if after.late_ack is None else "late"

    def dead_letter(
        self, thing_name: str | None, payload: bytes, received_at: int, reasons: list[tuple[str, str]]
    ) -> str:
        """Keep an ack that cannot be used, with its reasons (never silently dropped)."""
        topic = topics_for(thing_name)["commandsAck"] if thing_name else None
        return self.dead_letters.put(
            thing_name=thing_name, topic=topic, payload=payload, received_at=received_at, reasons=reasons
        )

    def dead_letter_page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        items, last = self.dead_letters.page(COMMAND_ACK, limit, decode_cursor(cursor))
        return [dead_letter_view(i) for i in items], encode_cursor(last)

    def expire_overdue(self, now: int | None = None) -> int:
        """Move every open command past its deadline to `timed_out`; returns how many moved."""
        at = now_ms() if now is None else now
        moved = 0
        for _ in range(_EXPIRY_ROUNDS):  # bounded: the next run (a minute later) takes the rest
            overdue = self.store.overdue(at, limit=_EXPIRY_PAGE)
            for command in overdue:
                before, after = self._settle(command, lambda c: commands.expire(c, at))
                moved += after != before
            if len(overdue) < _EXPIRY_PAGE:
                break
        return moved

    def _settle(self, command: Command, transition: Any, owner_id: str | None = None) -> tuple[Command, Command]:
        """Apply `transition` and store the result, re-reading the command when it changed meanwhile; a change
        is announced (`CommandUpdated`, gridshare.devices.command_updates) to the device's owner."""
        current = command
        for _ in range(_ATTEMPTS):
            after = transition(current)
            if after == current:
                return current, current
            try:
                self.store.replace(current, after)
                self._announce(after, owner_id)
                return current, after
            except StaleCommand:
                fresh = self.store.get(current.device_id, current.id)
                if fresh is None:
                    return current, current
                current = fresh
        raise errors.Unavailable("The command kept changing; try again.")

    def _announce(self, command: Command, owner_id: str | None) -> None:
        if owner_id is None:  # the expiry schedule knows only the command
            try:
                owner_id = str(DeviceModel.get(command.device_id).owner_id)
            except DeviceModel.DoesNotExist:
                return
        self.updates.publish(command_view(command), command.device_id, owner_id)


command_service = ServiceFactory(CommandService)
