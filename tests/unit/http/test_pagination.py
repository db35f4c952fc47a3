"""Cursor signing (gridshare.http.pagination): the key is GS_CURSOR_SECRET and nothing else.

The shared fixtures give every test its own random key (tests/support/fixtures.py `cursor_secret`).
"""

from __future__ import annotations

import json

import pytest

from gridshare.http import pagination, problems
from gridshare.kernel.errors import BadRequest, ConfigurationError
from gridshare.kernel.settings import reset_settings

KEY = {"pk": "USER#u-1", "sk": "DEVICE#d-7"}


def _use_secret(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("GS_CURSOR_SECRET", raising=False)
    else:
        monkeypatch.setenv("GS_CURSOR_SECRET", value)
    reset_settings()


def test_a_cursor_opens_with_the_key_that_signed_it(cursor_secret: str) -> None:
    # Given a cursor made under this test's key
    cursor = pagination.encode_cursor(KEY)

    # When / Then it decodes to the same key
    assert pagination.decode_cursor(cursor) == KEY


def test_a_cursor_signed_with_another_secret_is_a_400_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a cursor signed by one deployment (or before the secret was rotated)
    _use_secret(monkeypatch, "first-deployment-secret")
    cursor = pagination.encode_cursor(KEY)

    # When another secret checks it
    _use_secret(monkeypatch, "second-deployment-secret")
    with pytest.raises(BadRequest) as refused:
        pagination.decode_cursor(cursor)

    # Then it is refused as a bad cursor: a 400 problem naming the cursor field
    response = problems.from_error(refused.value, instance="/v1/devices")
    body = json.loads(response.body)
    assert response.status_code == 400 and body["status"] == 400
    assert [error["field"] for error in body["errors"]] == ["cursor"]


def test_the_old_public_default_key_signs_nothing(monkeypatch: pytest.MonkeyPatch, cursor_secret: str) -> None:
    # Given a cursor forged with the key the code once fell back to
    _use_secret(monkeypatch, "gridshare-cursor")
    forged = pagination.encode_cursor({"pk": "USER#someone-else"})

    # When this deployment (its own key) reads it, Then it is refused
    _use_secret(monkeypatch, cursor_secret)
    with pytest.raises(BadRequest):
        pagination.decode_cursor(forged)


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_without_a_secret_cursors_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, cursor_secret: str, missing: str | None
) -> None:
    # Given a cursor made while the key was set, and then a function without GS_CURSOR_SECRET
    cursor = pagination.encode_cursor(KEY)
    _use_secret(monkeypatch, missing)

    # When a cursor is made or checked, Then it is the deployment's error (a 500), not a 400 for the caller,
    # and the message names the setting
    with pytest.raises(ConfigurationError, match="GS_CURSOR_SECRET"):
        pagination.encode_cursor(KEY)
    with pytest.raises(ConfigurationError, match="GS_CURSOR_SECRET"):
        pagination.decode_cursor(cursor)
    assert not issubclass(ConfigurationError, ValueError)  # decode_cursor turns ValueErrors into 400s

    # And a first page with no next page needs no key at all
    assert pagination.decode_cursor(None) is None
    assert pagination.page([1], 50, None) == {"data": [1], "pagination": {"limit": 50, "nextCursor": None}}
