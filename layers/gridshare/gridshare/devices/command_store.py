"""Commands in DynamoDB (devices.models.CommandModel), speaking gridshare.devices.commands.Command.

Transitions are conditional writes on the state they were computed from (`status`, and whether a late ack
was kept), so an ack and the expiry schedule racing on one command cannot both win: the loser's write is
refused (`StaleCommand`) and the service reads the command again and re-applies the pure transition,
which by then changes nothing or only records a late ack.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from gridshare.devices.commands import SENT, Ack, Command
from gridshare.devices.models import CommandModel
from gridshare.kernel.tables import failed_condition

RETENTION_S = 90 * 86_400  # commands are kept for 90 days after they were issued (TTL)


class StaleCommand(Exception):
    """The command changed since it was read: read it again."""


def _ack_from(value: dict[str, Any] | None) -> Ack | None:
    return Ack(value["status"], value.get("result") or {}, int(value["at"])) if value else None


def to_command(item: CommandModel) -> Command:
    return Command(
        id=item.id,
        device_id=item.device_id,
        name=item.name,
        params=dict(item.params or {}),
        status=item.status,  # type: ignore[arg-type]
        issued_at=int(item.issued_at),
        expires_at=int(item.expires_at),
        completed_at=int(item.completed_at) if item.completed_at is not None else None,
        result=item.result,
        late_ack=_ack_from(item.late_ack),
    )


def _item(command: Command) -> CommandModel:
    return CommandModel(
        device_id=command.device_id,
        id=command.id,
        name=command.name,
        params=command.params,
        status=command.status,
        issued_at=command.issued_at,
        expires_at=command.expires_at,
        completed_at=command.completed_at,
        result=command.result,
        late_ack=asdict(command.late_ack) if command.late_ack else None,
        open=SENT if command.status == SENT else None,
        purge_at=datetime.fromtimestamp(command.issued_at // 1000 + RETENTION_S, tz=UTC),
    )


class CommandStore:
    def add(self, command: Command) -> None:
        try:
            _item(command).save(condition=CommandModel.id.does_not_exist())
        except PutError as exc:
            if failed_condition(exc):
                raise StaleCommand(command.id) from None
            raise

    def get(self, device_id: str, command_id: str) -> Command | None:
        try:
            return to_command(CommandModel.get(device_id, command_id))
        except DoesNotExist:
            return None

    def list(
        self, device_id: str, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[Command], dict[str, Any] | None]:
        """A device's commands, newest first; the key to continue from (None on the last page)."""
        result = CommandModel.query(device_id, limit=limit, last_evaluated_key=start, scan_index_forward=False)
        commands = [to_command(item) for item in result]
        return commands, result.last_evaluated_key

    def overdue(self, now: int, limit: int = 100) -> list[Command]:
        """Open commands whose deadline is before `now`, oldest deadline first."""
        items = CommandModel.open_by_deadline.query(SENT, CommandModel.expires_at < now, limit=limit)
        return [to_command(item) for item in items]

    def replace(self, before: Command, after: Command) -> None:
        """Write `after` if the stored command is still `before` (its status and late ack); else StaleCommand."""
        condition = (CommandModel.status == before.status) & (
            CommandModel.late_ack.exists() if before.late_ack else CommandModel.late_ack.does_not_exist()
        )
        try:
            _item(after).save(condition=condition)
        except (PutError, UpdateError) as exc:
            if failed_condition(exc):
                raise StaleCommand(after.id) from None
            raise
