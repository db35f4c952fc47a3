"""Device commands through the API, the ack Lambda and the expiry schedule's Lambda, against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridshare.kernel import clock
from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device, deliver_ack


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _admin(api: Api) -> str:
    create_admin()
    login = api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"})
    return str(_data(login)["accessToken"])


def _published() -> list[tuple[str, dict[str, Any]]]:
    """What the API published through moto's iot-data (moto records it; the local stack forwards it)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iotdata.models import iotdata_backends

    backend = iotdata_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [(topic, json.loads(payload)) for topic, payload in backend.published_payloads]


def _send(api: Api, token: str, device_id: str, body: dict[str, Any]) -> Any:
    return api.call("POST", f"/v1/devices/{device_id}/commands", body, token=token)


def _command(api: Api, token: str, device_id: str, command_id: str) -> dict[str, Any]:
    response = api.call("GET", f"/v1/devices/{device_id}/commands/{command_id}", token=token)
    assert response.status_code == 200, response.body
    return dict(_data(response))


def test_a_command_is_stored_and_published_on_the_devices_command_topic(api: Api) -> None:
    # Given an owner with a meter
    token = register_user(api, "owner@example.com")["accessToken"]
    meter = create_device(api, token)

    # When they send it a command
    response = _send(api, token, meter["id"], {"name": "set_report_interval", "params": {"intervalS": 30}})

    # Then it is accepted as sent, with a deadline timeoutS (default 60 s) after it was issued
    assert response.status_code == 202, response.body
    command = _data(response)
    assert command["status"] == "sent" and command["name"] == "set_report_interval"
    assert command["params"] == {"intervalS": 30}
    issued, expires = clock.parse_time(command["issuedAt"]), clock.parse_time(command["expiresAt"])
    assert expires - issued == 60_000
    # And the device's command topic got the message, the command id as correlation id
    assert _published() == [
        (
            meter["topics"]["commands"],
            {
                "correlationId": command["id"],
                "name": "set_report_interval",
                "params": {"intervalS": 30},
                "issuedAt": command["issuedAt"],
                "expiresAt": command["expiresAt"],
            },
        )
    ]
    assert _command(api, token, meter["id"], command["id"]) == command


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "valve_close"}, "name"),  # a gas sensor's command, not a meter's
        ({"name": "no_such_command"}, "name"),
        ({"name": "set_report_interval", "params": {}}, "params.intervalS"),
        ({"name": "set_report_interval", "params": {"intervalS": 4}}, "params.intervalS"),
        ({"name": "set_report_interval", "params": {"intervalS": "30"}}, "params.intervalS"),
        ({"name": "reset_counters", "params": {"force": True}}, "params.force"),
        ({"name": "reset_counters", "timeoutS": 4}, "timeoutS"),
        ({"name": "reset_counters", "timeoutS": 3601}, "timeoutS"),
    ],
)
def test_an_unknown_command_or_bad_params_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    token = register_user(api, "fields@example.com")["accessToken"]
    meter = create_device(api, token)
    response = _send(api, token, meter["id"], body)
    assert response.status_code == 422, response.body
    problem = json.loads(response.body)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in problem["errors"]], problem
    assert _published() == []  # nothing reached the device


def test_each_device_type_has_its_own_commands(api: Api) -> None:
    token = register_user(api, "types@example.com")["accessToken"]
    cases = {
        "battery": {"name": "set_power", "params": {"powerW": -2500}},
        "gas_sensor": {"name": "valve_close"},
        "inverter": {"name": "set_power_limit", "params": {"limitPct": 70}},
    }
    for device_type, body in cases.items():
        device = create_device(api, token, type=device_type, name=device_type)
        assert _send(api, token, device["id"], body).status_code == 202
    battery = create_device(api, token, type="battery", name="big")
    too_much = _send(api, token, battery["id"], {"name": "set_power", "params": {"powerW": 10**9}})
    assert too_much.status_code == 422 and json.loads(too_much.body)["errors"][0]["field"] == "params.powerW"


def test_another_users_device_and_commands_are_404_and_admins_see_them(api: Api) -> None:
    # Given alice's meter with one command
    alice = register_user(api, "alice@example.com")["accessToken"]
    bob = register_user(api, "bob@example.com", role="consumer")["accessToken"]
    meter = create_device(api, alice)
    command = _data(_send(api, alice, meter["id"], {"name": "reset_counters"}))
    base = f"/v1/devices/{meter['id']}/commands"

    # Then bob can neither send, list nor read them: 404, as for the device itself
    assert _send(api, bob, meter["id"], {"name": "reset_counters"}).status_code == 404
    assert api.call("GET", base, token=bob).status_code == 404
    assert api.call("GET", f"{base}/{command['id']}", token=bob).status_code == 404
    # And a command id of another device is not found under bob's own device
    bobs = create_device(api, bob)
    assert api.call("GET", f"/v1/devices/{bobs['id']}/commands/{command['id']}", token=bob).status_code == 404
    # And an admin reads and sends them (admins and operators see every device)
    admin = _admin(api)
    assert _command(api, admin, meter["id"], command["id"])["id"] == command["id"]
    assert _send(api, admin, meter["id"], {"name": "reset_counters"}).status_code == 202
    assert len(_data(api.call("GET", base, token=alice))) == 2
    # And a command id that does not exist is a 404
    assert api.call("GET", f"{base}/01J00000000000000000000000", token=alice).status_code == 404


def test_commands_list_newest_first_with_cursor_pagination(api: Api) -> None:
    token = register_user(api, "pages@example.com")["accessToken"]
    meter = create_device(api, token)
    other = create_device(api, token, name="other")
    sent = []
    with clock.frozen() as frozen:
        for _ in range(5):
            sent.append(_data(_send(api, token, meter["id"], {"name": "reset_counters"}))["id"])
            frozen.advance(1)
        seen: list[str] = []
        cursor = None
        while True:
            query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
            page = json.loads(api.call("GET", f"/v1/devices/{meter['id']}/commands{query}", token=token).body)
            assert page["pagination"]["limit"] == 2 and len(page["data"]) <= 2
            seen += [c["id"] for c in page["data"]]
            cursor = page["pagination"]["nextCursor"]
            if cursor is None:
                break
            # a cursor of this listing is refused for another device's
            refused = api.call("GET", f"/v1/devices/{other['id']}/commands?cursor={cursor}", token=token)
            assert refused.status_code == 400 and json.loads(refused.body)["errors"][0]["field"] == "cursor"
    assert seen == list(reversed(sent))
    too_many = api.call("GET", f"/v1/devices/{meter['id']}/commands?limit=201", token=token)
    assert too_many.status_code == 422 and json.loads(too_many.body)["errors"][0]["field"] == "limit"


def test_an_ack_completes_the_command_once_and_only_from_its_own_device(api: Api) -> None:
    # Given a command sent to alice's meter, and another device of hers
    token = register_user(api, "acks@example.com")["accessToken"]
    meter = create_device(api, token)
    other = create_device(api, token, name="other")
    command = _data(_send(api, token, meter["id"], {"name": "reset_counters"}))

    # When the other device answers it (its own topic, the meter's correlation id), nothing changes
    ack = {"correlationId": command["id"], "status": "failed", "result": {"by": "other"}}
    assert deliver_ack(other["thingName"], ack) == {"batchItemFailures": []}
    assert _command(api, token, meter["id"], command["id"])["status"] == "sent"

    # When the meter acknowledges it
    done = {"correlationId": command["id"], "status": "succeeded", "result": {"counters": 0}}
    assert deliver_ack(meter["thingName"], done) == {"batchItemFailures": []}

    # Then it succeeded with the device's result
    answered = _command(api, token, meter["id"], command["id"])
    assert answered["status"] == "succeeded" and answered["result"] == {"counters": 0}
    assert answered["completedAt"] is not None and "lateAck" not in answered

    # And a duplicate or contradicting ack, or garbage, changes nothing and is not retried
    for late in (done, {**done, "status": "failed"}):
        assert deliver_ack(meter["thingName"], late) == {"batchItemFailures": []}
    assert deliver_ack(meter["thingName"], b"\x00not json") == {"batchItemFailures": []}
    assert deliver_ack(meter["thingName"], {"correlationId": command["id"], "status": "maybe"}) == {
        "batchItemFailures": []
    }
    assert _command(api, token, meter["id"], command["id"]) == answered


def test_an_unanswered_command_times_out_and_a_late_ack_is_only_recorded(api: Api) -> None:
    from functions.devices.command_expiry import handler as expiry
    from gridshare_local.lambda_runtime import LambdaContext

    token = register_user(api, "late@example.com")["accessToken"]
    meter = create_device(api, token)
    with clock.frozen() as frozen:
        command = _data(_send(api, token, meter["id"], {"name": "reset_counters", "timeoutS": 5}))
        answered = _data(_send(api, token, meter["id"], {"name": "reset_counters", "timeoutS": 5}))
        assert deliver_ack(meter["thingName"], {"correlationId": answered["id"], "status": "rejected"}) == {
            "batchItemFailures": []
        }

        # When the schedule runs before the deadline, nothing times out
        assert expiry({}, LambdaContext("command-expiry")) == {"timedOut": 0}
        # When it runs after the deadline
        frozen.advance(6)
        assert expiry({}, LambdaContext("command-expiry")) == {"timedOut": 1}

        # Then the unanswered command timed out at its deadline; the answered one kept its answer
        timed_out = _command(api, token, meter["id"], command["id"])
        assert timed_out["status"] == "timed_out" and timed_out["completedAt"] == command["expiresAt"]
        assert _command(api, token, meter["id"], answered["id"])["status"] == "rejected"

        # And a late ack is recorded, but the command stays timed out; a second late ack is ignored
        deliver_ack(meter["thingName"], {"correlationId": command["id"], "status": "succeeded", "result": {"a": 1}})
        deliver_ack(meter["thingName"], {"correlationId": command["id"], "status": "failed"})
        late = _command(api, token, meter["id"], command["id"])
        assert late["status"] == "timed_out"
        assert late["lateAck"]["status"] == "succeeded" and late["lateAck"]["result"] == {"a": 1}
        # And the next run has nothing left to do
        assert expiry({}, LambdaContext("command-expiry")) == {"timedOut": 0}


def test_a_command_the_broker_does_not_take_is_a_503_and_failed(api: Api) -> None:
    from gridshare.devices.command_service import CommandService, command_service
    from gridshare.kernel import errors

    class DownBroker:
        def publish(self, topic: str, message: dict[str, Any]) -> None:
            raise errors.Unavailable("The device's message broker did not take the command; try again.")

    token = register_user(api, "down@example.com")["accessToken"]
    meter = create_device(api, token)
    with command_service.override(CommandService(publisher=DownBroker())):
        response = _send(api, token, meter["id"], {"name": "reset_counters"})
    assert response.status_code == 503, response.body
    (stored,) = _data(api.call("GET", f"/v1/devices/{meter['id']}/commands", token=token))
    assert stored["status"] == "failed" and stored["result"] == {"error": "not published"}
