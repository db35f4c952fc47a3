"""Errors the `gridshare` command reports as one line and an exit code (gridshare_local.cli.main)."""

from __future__ import annotations

import os
from pathlib import Path

EXIT_FAILED = 1  # the command ran and failed, or was refused
EXIT_USAGE = 2  # what argparse uses too: the command line cannot work as given
EXIT_NO_STACK = 3  # no local stack answers
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


def state_dir() -> Path:
    """The local stack's state directory: GS_STATE_DIR (set by --state-dir), else `.local`."""
    return Path(os.environ.get("GS_STATE_DIR", ".local")).resolve()


class CliError(Exception):
    """A failure the user can act on: `message` is printed as it is, and the command exits `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class StackNotRunning(CliError):
    def __init__(self, state: Path | None = None, api: str | None = None) -> None:
        where = f" (nothing answers at {api})" if api else ""
        super().__init__(f"no local stack at {state or state_dir()}{where}: run `make up`", EXIT_NO_STACK)
