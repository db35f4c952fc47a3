"""The local stack's cursor key: one random key per state directory, kept across restarts, owner-only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from gridshare_local.state_secrets import CURSOR_KEY_FILE, ensure_cursor_key, write_owner_only


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_each_state_dir_gets_its_own_key_and_keeps_it(tmp_path: Path) -> None:
    # Given two fresh state directories
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    # When a stack starts in each, and the first one starts again
    key_first = ensure_cursor_key(first)
    key_second = ensure_cursor_key(second)
    key_first_again = ensure_cursor_key(first)

    # Then each has a random key of its own (cursors of one do not open in the other), which a restart of
    # the same directory keeps (cursors a client holds stay valid)
    assert key_first != key_second
    assert key_first_again == key_first
    assert len(key_first) >= 43  # 32 random bytes, URL-safe base64

    # And only the owner can read it
    assert (first / CURSOR_KEY_FILE).read_text().strip() == key_first
    assert _mode(first / CURSOR_KEY_FILE) == 0o600
    assert _mode(second / CURSOR_KEY_FILE) == 0o600


def test_a_key_file_readable_by_others_is_made_owner_only(tmp_path: Path) -> None:
    # Given a key file someone made world-readable
    key = ensure_cursor_key(tmp_path)
    (tmp_path / CURSOR_KEY_FILE).chmod(0o644)

    # When the stack starts again, Then it keeps the key and tightens the file
    assert ensure_cursor_key(tmp_path) == key
    assert _mode(tmp_path / CURSOR_KEY_FILE) == 0o600


def test_an_empty_key_file_gets_a_new_key(tmp_path: Path) -> None:
    # Given a key file emptied by hand
    (tmp_path / CURSOR_KEY_FILE).write_text("")

    # When the stack starts, Then it makes a key rather than sign with an empty one
    key = ensure_cursor_key(tmp_path)
    assert key and (tmp_path / CURSOR_KEY_FILE).read_text().strip() == key
    assert _mode(tmp_path / CURSOR_KEY_FILE) == 0o600


def test_env_json_is_replaced_whole_and_owner_only(tmp_path: Path) -> None:
    # Given an env.json left world-readable by an older stack
    path = tmp_path / "env.json"
    path.write_text("{}")
    path.chmod(0o644)

    # When the stack writes its environment (which holds the cursor key)
    write_owner_only(path, json.dumps({"GS_CURSOR_SECRET": "k"}))

    # Then the file has the new content, owner-only, and no temporary file is left behind
    assert json.loads(path.read_text()) == {"GS_CURSOR_SECRET": "k"}
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["env.json"]
