"""The `gridshare` command without a stack: every failure is one line and a non-zero exit, never a traceback.

The errors that need a running stack (duplicate admin, wrong password in simulate, an empty outbox) are in
tests/e2e/test_cli.py.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridshare_local import cli
from gridshare_local.cli_errors import EXIT_FAILED, EXIT_NO_STACK, EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state directory no stack ever ran in, and an API port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("GS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GS_API_PORT", str(port))
    monkeypatch.delenv("GS_API_URL", raising=False)
    monkeypatch.delenv("GS_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("GS_PASSWORD", raising=False)
    yield tmp_path / "state"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ("outbox", "--to", "x@example.com"),
        ("clock",),
        ("clock", "advance", "20m"),
        ("admin", "create", "--email", "a@example.com", "--password", "Str0ng-Passw0rd"),
        ("ledger", "verify"),
        ("pay", "confirm", "pi_123"),
        ("simulate", "--email", "a@example.com", "--password", "Str0ng-Passw0rd", "--count", "1"),
    ],
)
def test_every_command_without_a_stack_says_so_in_one_line(
    no_stack: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == EXIT_NO_STACK
    assert f"no local stack at {no_stack}" in one_line(err) and "run `make up`" in err


def test_a_stopped_stack_is_not_taken_for_a_running_one(no_stack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the env.json a stack leaves behind when it stops
    no_stack.mkdir(parents=True)
    api = f"http://127.0.0.1:{os.environ['GS_API_PORT']}"
    (no_stack / "env.json").write_text(f'{{"GS_API_URL": "{api}", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}}')
    # Then the commands that reach moto directly say no stack runs, before any AWS call
    code, _, err = run(capsys, "admin", "create", "--email", "a@example.com", "--password", "Str0ng-Passw0rd")
    assert code == EXIT_NO_STACK
    assert (
        one_line(err)
        == f"gridshare admin create: no local stack at {no_stack} (nothing answers at {api}): run `make up`"
    )


def test_the_real_command_prints_no_traceback(no_stack: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in (".", "layers/gridshare", "local"))}
    result = subprocess.run(
        [sys.executable, "-m", "gridshare_local.cli", "outbox"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_NO_STACK
    assert result.stderr.startswith("gridshare outbox: no local stack at ") and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_weak_admin_password_names_the_policy(no_stack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The policy is checked before anything is touched: no stack is needed to be told
    code, _, err = run(capsys, "admin", "create", "--email", "a@example.com", "--password", "weak")
    assert code == EXIT_USAGE
    assert one_line(err) == (
        "gridshare admin create: The password does not meet the password policy: at least 8 characters, with an "
        "uppercase letter, a lowercase letter and a number (this one: only 4 characters, no uppercase letter, "
        "no number)."
    )


def test_the_policy_in_words_follows_the_pool_policy() -> None:
    from gridshare.identity import passwords
    from gridshare.kernel.resources import PASSWORD_POLICY

    strict = {**PASSWORD_POLICY, "MinimumLength": 12, "RequireSymbols": True}
    assert passwords.describe(strict) == (
        "at least 12 characters, with an uppercase letter, a lowercase letter, a number and a symbol"
    )
    assert passwords.violations("Passw0rd-long", strict) == []
    assert passwords.violations("Passw0rdlong", strict) == ["no symbol"]
    assert passwords.violations("Passw0rd", PASSWORD_POLICY) == []


def test_a_missing_password_without_a_terminal_is_a_usage_error(
    no_stack: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 - closed by pytest with the patch
    code, _, err = run(capsys, "simulate", "--email", "a@example.com", "--count", "1")
    assert code == EXIT_USAGE
    assert "no password: give --password or set GS_PASSWORD" in one_line(err)


def test_up_refuses_a_taken_port_naming_it_and_a_flag_wins_over_the_environment(
    no_stack: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("GS_MOTO_PORT", "1")  # would be refused if it were used: the flag wins
        code, _, err = run(capsys, "up", "--moto-port", str(port), "--state-dir", str(no_stack))
    assert code == EXIT_FAILED
    assert f"port {port} (moto) is in use" in one_line(err) and "--moto-port" in err
    assert not no_stack.exists()  # nothing was started


def test_an_unexpected_error_is_one_line_with_a_hint_and_debug_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("something odd\nsecond line")

    monkeypatch.setattr(cli, "_cmd_openapi", broken)
    code, _, err = run(capsys, "openapi")
    assert code == EXIT_FAILED
    assert one_line(err) == (
        "gridshare openapi: unexpected RuntimeError: something odd "
        "(rerun with `gridshare --debug ...` for the traceback)"
    )
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "openapi"])
    with pytest.raises(RuntimeError):
        cli.main(["openapi", "--debug"])


def test_every_option_of_every_command_has_help() -> None:
    missing = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                names = {a.dest for a in action._choices_actions}
                for name, child in action.choices.items():
                    if name not in names:
                        missing.append(f"{path} {name}")
                    walk(child, f"{path} {name}")
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(cli.build_parser(), "gridshare")
    assert missing == []


def test_the_up_flags_are_documented_beside_their_environment_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["up", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, env in (
        ("--api-port", "GS_API_PORT"),
        ("--mqtt-port", "GS_MQTT_PORT"),
        ("--moto-port", "GS_MOTO_PORT"),
        ("--state-dir", "GS_STATE_DIR"),
    ):
        assert flag in text and f"${env}" in text


def test_publish_names_what_is_wrong_with_the_device_file(
    capsys: pytest.CaptureFixture[str], no_stack: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nothing.json"
    code, _, err = run(capsys, "publish", str(missing))
    assert code == EXIT_USAGE and one_line(err).startswith(f"gridshare publish: cannot read {missing}")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("<html>")
    code, _, err = run(capsys, "publish", str(garbage))
    assert code == EXIT_USAGE and "is not JSON" in one_line(err) and "POST /v1/devices" in err
    other = tmp_path / "user.json"
    other.write_text('{"data": {"id": "u1", "email": "a@example.com"}}')
    code, _, err = run(capsys, "publish", str(other))
    line = one_line(err)
    assert code == EXIT_USAGE and "not a POST /v1/devices answer: no thingName, certificatePem" in line
    with pytest.raises(SystemExit) as usage:  # argparse's own usage error
        cli.main(["publish", str(other), "--metrics", "[1, 2]"])
    err = capsys.readouterr().err
    assert usage.value.code == EXIT_USAGE and "argument --metrics: a JSON object" in err and "Traceback" not in err


def test_publish_to_a_stack_that_is_not_running_says_so(
    capsys: pytest.CaptureFixture[str], no_stack: Path, tmp_path: Path
) -> None:
    import json

    from gridshare_local.pki import LocalCA

    ca = LocalCA.ensure(tmp_path / "ca")
    cert, key = ca.issue_client_cert("gs-meter-1")
    answer = {
        "thingName": "gs-meter-1",
        "certificatePem": cert,
        "privateKey": key,
        "caCertificatePem": ca.ca_cert_pem,
        "mqtt": {"host": "127.0.0.1", "port": 1},
        "topics": {"telemetry": "gs/v1/gs-meter-1/telemetry"},
    }
    device = tmp_path / "device.json"
    device.write_text(json.dumps({"data": answer}))
    code, _, err = run(capsys, "publish", str(device), "--metrics", '{"power_w": 1}')
    line = one_line(err)
    assert code == EXIT_FAILED and "could not connect to 127.0.0.1:1" in line and "make up" in line
