"""gridshare.kernel.settings reads every environment as the pydantic-settings model it replaced did: the same
values, or the same validation errors (tests/support/settings_reference.py is that model)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Literal, get_origin
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr as PydanticSecretStr
from pydantic import ValidationError

from gridshare.kernel.settings import SecretStr, Settings, _specs
from tests.support.settings_reference import ReferenceSettings

FIELDS = list(_specs())
ENV_NAMES = {name: (spec.env or f"GS_{name}") for name, (_kind, spec) in _specs().items()}
CANDIDATES = [
    "", "0", "1", "-1", "007", "-0", " 42 ", "1_000", "+5", "5.0", "1e3", "99999999", "-99999",
    "59", "60", "100", "10001", "true", "YES", "off", "On", "t", "n", "2", "x", "local", "aws", "AWS",
    "pay_as_clear", "pay_as_bid", "secret", "https://a.example, https://b.example",
]  # fmt: skip


def _as_plain(value: Any) -> Any:
    if isinstance(value, SecretStr | PydanticSecretStr):
        return ("secret", value.get_secret_value())
    return value


def _read(factory: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        made = factory(**kwargs)
    except ValidationError as exc:
        return "invalid", [(e["loc"], e["type"], e["msg"]) for e in exc.errors()]
    return "ok", {name: _as_plain(getattr(made, name)) for name in FIELDS}


def test_the_fields_are_the_reference_fields() -> None:
    assert list(ReferenceSettings.model_fields) == FIELDS


@settings(max_examples=200, deadline=None)
@given(
    env=st.dictionaries(
        st.sampled_from(FIELDS),
        st.one_of(st.sampled_from(CANDIDATES), st.text(max_size=6)),
        max_size=4,
    ),
    lower=st.booleans(),
)
def test_any_environment_reads_as_the_pydantic_settings_model_read_it(env: dict[str, str], lower: bool) -> None:
    # Given an environment with some of the variables set (names in either case: pydantic-settings ignores it)
    variables = {(ENV_NAMES[n].lower() if lower else ENV_NAMES[n]): v.replace("\x00", "") for n, v in env.items()}
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("GS_") and k.upper() != "AWS_REGION"}
    with mock.patch.dict(os.environ, {**clean, **variables}, clear=True):
        # When both read it
        ours, theirs = _read(Settings), _read(ReferenceSettings)
    # Then the values, or the validation errors, are the same
    assert ours == theirs


@pytest.mark.parametrize(
    "kwargs",
    [
        {"user_pool_id": "pool", "user_pool_client_id": "client", "jwks_url": "file:///k.json"},
        {"mqtt_port": 1883, "local_stack": True, "cursor_secret": "k"},
        {"market_horizon_days": 0},
        {"cert_issuer": "elsewhere"},
        {"AWS_REGION": "eu-west-1", "unknown": 1},
    ],
)
def test_keyword_arguments_read_as_the_model_read_them(kwargs: dict[str, Any]) -> None:
    assert _read(Settings, **kwargs) == _read(ReferenceSettings, **kwargs)


def test_a_value_only_pydantic_can_judge_raises_its_validation_error() -> None:
    with mock.patch.dict(os.environ, {"GS_MQTT_PORT": "eighty"}), pytest.raises(ValidationError) as raised:
        Settings()
    assert raised.value.errors()[0]["loc"] == ("mqtt_port",)


def test_the_secret_stays_out_of_reprs() -> None:
    secret = Settings(cursor_secret="hmac-key").cursor_secret
    assert secret is not None and secret.get_secret_value() == "hmac-key"
    assert "hmac-key" not in repr(secret) and "hmac-key" not in str(secret)


def test_every_field_is_of_a_type_the_plain_reader_knows() -> None:
    # A field of another type (a list, a float) would be read by pydantic whenever it is set: correct, but
    # every function would import pydantic again. Teach `_plain` the type first.
    known = (str, int, bool, SecretStr | None)
    assert [n for n, (kind, _) in _specs().items() if kind not in known and get_origin(kind) is not Literal] == []


def test_reading_the_settings_imports_no_pydantic() -> None:
    # Given a fresh interpreter and an environment of valid values
    code = "import sys; from gridshare.kernel.settings import get_settings; get_settings()\n"
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_settings')))"
    env = {**os.environ, "GS_MQTT_PORT": "1883", "GS_LOCAL_STACK": "true", "GS_CURSOR_SECRET": "k"}
    # When the settings are read
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    # Then neither pydantic nor pydantic-settings was imported
    assert done.stdout.strip() == "[]"
