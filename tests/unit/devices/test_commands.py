"""The life of a device command (gridshare.devices.commands), without AWS."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.devices import commands
from gridshare.devices.commands import Ack, Command
from gridshare.kernel import errors

T0 = 1_800_000_000_000


def _sent(timeout_s: int = 60) -> Command:
    return commands.issue("01CMD", "01DEV", "reset_counters", {}, T0, timeout_s)


def test_a_new_command_is_sent_with_its_deadline() -> None:
    command = _sent(30)
    assert command.status == "sent" and not command.final
    assert command.expires_at == T0 + 30_000
    with pytest.raises(ValueError, match="timeout_s"):
        _sent(4)


@pytest.mark.parametrize("status", commands.ACK_STATUSES)
def test_an_ack_in_time_is_the_final_state(status: str) -> None:
    done = commands.apply_ack(_sent(), Ack(status, {"x": 1}, T0 + 1_000))  # type: ignore[arg-type]
    assert (done.status, done.result, done.completed_at, done.late_ack) == (status, {"x": 1}, T0 + 1_000, None)
    assert done.final


def test_a_duplicate_ack_changes_nothing() -> None:
    done = commands.apply_ack(_sent(), Ack("succeeded", {}, T0 + 1))
    assert commands.apply_ack(done, Ack("succeeded", {}, T0 + 2)) is done
    assert commands.apply_ack(done, Ack("failed", {"other": True}, T0 + 3)) is done


def test_expiry_only_after_the_deadline() -> None:
    command = _sent(60)
    assert commands.expire(command, T0 + 60_000) is command  # the deadline itself is still in time
    timed_out = commands.expire(command, T0 + 60_001)
    assert timed_out.status == "timed_out" and timed_out.completed_at == command.expires_at


def test_a_late_ack_is_recorded_once_and_keeps_the_timeout() -> None:
    timed_out = commands.expire(_sent(5), T0 + 10_000)
    late = commands.apply_ack(timed_out, Ack("succeeded", {"a": 1}, T0 + 11_000))
    assert late.status == "timed_out" and late.late_ack == Ack("succeeded", {"a": 1}, T0 + 11_000)
    assert commands.apply_ack(late, Ack("failed", {}, T0 + 12_000)) is late


def test_an_ack_after_the_deadline_times_out_even_before_the_schedule_ran() -> None:
    late = commands.apply_ack(_sent(5), Ack("succeeded", {}, T0 + 5_001))
    assert late.status == "timed_out" and late.late_ack is not None and late.completed_at == T0 + 5_000


acks = st.builds(
    Ack,
    status=st.sampled_from(commands.ACK_STATUSES),
    result=st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    at=st.integers(min_value=T0, max_value=T0 + 7_200_000),
)
events = st.lists(
    st.one_of(acks, st.integers(min_value=T0, max_value=T0 + 7_200_000).map(lambda now: ("expire", now))),
    max_size=12,
)


@given(timeout_s=st.integers(min_value=5, max_value=3600), history=events)
def test_a_final_state_never_changes(timeout_s: int, history: list[object]) -> None:
    """Whatever acks and expiry runs arrive, in any order: once final, the status, result and completion
    time stay; only the first late ack is ever added."""
    command = _sent(timeout_s)
    first_final: Command | None = None
    for event in history:
        if isinstance(event, Ack):  # noqa: SIM108 - an ack, or ("expire", now): the schedule runs
            command = commands.apply_ack(command, event)
        else:
            command = commands.expire(command, event[1])  # type: ignore[index]
        if command.final and first_final is None:
            first_final = command
        if first_final is not None:
            assert (command.status, command.result, command.completed_at) == (
                first_final.status,
                first_final.result,
                first_final.completed_at,
            )
            if first_final.late_ack is not None:
                assert command.late_ack == first_final.late_ack
        if command.late_ack is not None:
            assert command.status == "timed_out"
        assert command.status in {"sent", *commands.FINAL_STATUSES}


@pytest.mark.parametrize(
    ("device_type", "name", "params", "field"),
    [
        ("meter", "valve_close", {}, "name"),
        ("gas_sensor", "reset_counters", {}, "name"),
        ("meter", "set_report_interval", {}, "params.intervalS"),
        ("meter", "set_report_interval", {"intervalS": 86_401}, "params.intervalS"),
        ("meter", "set_report_interval", {"intervalS": True}, "params.intervalS"),
        ("battery", "set_power", {"powerW": 1.5}, "params.powerW"),
        ("inverter", "set_power_limit", {"limitPct": 101}, "params.limitPct"),
        ("inverter", "restart", {"now": True}, "params.now"),
    ],
)
def test_invalid_commands_name_the_field(device_type: str, name: str, params: dict[str, object], field: str) -> None:
    with pytest.raises(errors.InvalidInput) as raised:
        commands.validate_command(device_type, name, params)
    assert field in [e.field for e in raised.value.errors]


def test_valid_params_come_back_as_sent_to_the_device() -> None:
    assert commands.validate_command("meter", "set_report_interval", {"intervalS": 900}) == {"intervalS": 900}
    assert commands.validate_command("gas_sensor", "self_test", {}) == {}


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"status": "succeeded"},
        {"correlationId": "x", "status": "done"},
        {"correlationId": "x", "status": "failed", "result": 3},
    ],
)
def test_malformed_acks_are_refused(document: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        commands.parse_ack(document, T0)


def test_an_ack_without_a_result_has_an_empty_one() -> None:
    assert commands.parse_ack({"correlationId": "c", "status": "rejected"}, T0) == ("c", Ack("rejected", {}, T0))
