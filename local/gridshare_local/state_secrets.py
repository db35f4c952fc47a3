"""Secrets a local stack keeps in its state directory, in files only their owner can read.

- `cursor.key`: the stack's GS_CURSOR_SECRET (pagination cursors, gridshare.http.pagination). The code has
  no default key; a deployed stack gets a generated Secrets Manager value. Locally, each state directory
  makes its own random key on first start and keeps it, so cursors a client holds still open after a
  restart of the same state directory, and never in another one.
- `write_owner_only`: env.json carries that key to the CLI and other processes, so it is owner-only too.

Files are written to a temporary name created with mode 0600 and renamed into place: a reader never sees
half a file, and there is no moment when the file exists with wider permissions.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

logger = logging.getLogger("gridshare.local.secrets")

CURSOR_KEY_FILE = "cursor.key"
OWNER_ONLY = 0o600


def write_owner_only(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable and writable by the owner only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, OWNER_ONLY)  # O_CREAT's mode does not apply to a stale temporary file
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def ensure_cursor_key(state_dir: Path) -> str:
    """The state directory's cursor-signing key, made (random, 256 bits) on first use and kept."""
    path = state_dir / CURSOR_KEY_FILE
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    if key:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            logger.warning("%s was readable by others: now owner-only", path)
            path.chmod(OWNER_ONLY)
        return key
    key = secrets.token_urlsafe(32)
    write_owner_only(path, key + "\n")
    return key
