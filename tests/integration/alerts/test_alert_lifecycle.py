"""The alert lifecycle against moto: the evaluator Lambda fed with SQS events built from the event contract,
one open alert per (rule, device), acknowledge and resolve through the API, auto-resolve, and reminders
and escalation through the schedule handler and the kernel clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.alerts.lifecycle import Evaluator
from gridshare.alerts.reminders import Reminders
from gridshare.alerts.rule_service import RuleService, rule_service
from gridshare.alerts.service import AlertsService, alerts_service, evaluator, reminders
from gridshare.kernel import clock
from tests.support.alerts import RecordingPublisher, evaluate, readings_accepted, run_reminders, status_changed
from tests.support.api import Api, create_admin, register_user
from tests.support.devices import create_device


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


@pytest.fixture
def published(aws: dict[str, str]) -> Iterator[RecordingPublisher]:
    publisher = RecordingPublisher()
    evaluator.use(Evaluator(publisher=publisher, site_of=lambda _: None))
    reminders.use(Reminders(publisher=publisher))
    alerts_service.use(AlertsService(publisher=publisher))
    rule_service.use(RuleService(publisher=publisher))
    yield publisher
    for factory in (evaluator, reminders, alerts_service, rule_service):
        factory.reset()


@pytest.fixture
def owner(api: Api) -> str:
    return str(register_user(api, "owner@example.com")["accessToken"])


def _reminded() -> dict[str, int]:
    """Reminders and escalations the schedule sent in one run."""
    sent = run_reminders()
    return {"reminders": sent["reminders"], "escalations": sent["escalations"]}


def _alerts(api: Api, token: str, query: str = "") -> list[dict[str, Any]]:
    response = api.call("GET", f"/v1/alerts{query}", token=token)
    assert response.status_code == 200, response.body
    return list(_data(response))


def test_a_leak_opens_one_critical_alert_and_repeats_count_on_it(
    api: Api, owner: str, published: RecordingPublisher
) -> None:
    # Given a gas sensor
    sensor = create_device(api, owner, name="tank", type="gas_sensor")
    with clock.frozen() as now:
        t0 = now()
        # When it reports a leak
        assert evaluate(readings_accepted(sensor, (t0, {"leak": True, "gas_level_pct": 40.0}))) == {
            "batchItemFailures": []
        }
        # Then one critical leak alert is open, from the default leak rule
        (alert,) = _alerts(api, owner, "?status=open")
        assert alert["kind"] == "leak" and alert["severity"] == "critical" and alert["count"] == 1
        assert alert["ruleId"] == f"leak-{sensor['id']}" and alert["lastValue"] is True
        assert alert["title"] and alert["message"] and alert["acknowledged"] is False and alert["resolved"] is False
        (opened,) = published.of("AlertOpened")
        assert opened["alert"] == alert and opened["occurrence"] == "opened" and opened["audience"] == "owner"
        assert opened["ownerId"] == sensor["ownerId"] and opened["channels"]
        # When the leak is reported again (and the same event is redelivered)
        again = readings_accepted(sensor, (t0 + 1000, {"leak": True}), (t0 + 2000, {"leak": True}))
        evaluate(again)
        evaluate(again)
        # Then the same alert counts three breaches; no second alert, and one AlertUpdated (count 2)
        (alert,) = _alerts(api, owner)
        assert alert["count"] == 3 and alert["status"] == "open"
        assert len(published.of("AlertOpened")) == 1
        assert [u["occurrence"] for u in published.of("AlertUpdated")] == ["updated-count-2"]
        # When the owner acknowledges it
        response = api.call("POST", f"/v1/alerts/{alert['id']}/acknowledge", {"note": "valve closed"}, token=owner)
        assert response.status_code == 200, response.body
        acked = _data(response)
        assert acked["status"] == "acknowledged" and acked["acknowledged"] is True and acked["note"] == "valve closed"
        assert acked["acknowledgedBy"] and acked["acknowledgedAt"]
        assert published.of("AlertUpdated")[-1]["occurrence"] == "updated-acknowledged"
        assert api.call("POST", f"/v1/alerts/{alert['id']}/acknowledge", {}, token=owner).status_code == 409
        # When the sensor reports no leak any more: the alert resolves by itself (forS 0)
        evaluate(readings_accepted(sensor, (t0 + 3000, {"leak": False})))
        fetched = _data(api.call("GET", f"/v1/alerts/{alert['id']}", token=owner))
        assert fetched["status"] == "resolved" and fetched["resolvedBy"] == "auto" and fetched["resolvedAt"]
        # And a new leak opens a new alert
        evaluate(readings_accepted(sensor, (t0 + 4000, {"leak": True})))
        assert len(_alerts(api, owner, "?status=open")) == 1 and len(_alerts(api, owner)) == 2


def test_another_user_cannot_see_or_touch_an_alert(api: Api, owner: str, published: RecordingPublisher) -> None:
    sensor = create_device(api, owner, name="tank", type="gas_sensor")
    evaluate(readings_accepted(sensor, (clock.now_ms(), {"leak": True})))
    (alert,) = _alerts(api, owner)
    other = register_user(api, "other@example.com")["accessToken"]
    assert _alerts(api, other) == []
    assert _alerts(api, other, f"?deviceId={sensor['id']}") == []
    for method, path in (
        ("GET", f"/v1/alerts/{alert['id']}"),
        ("POST", f"/v1/alerts/{alert['id']}/acknowledge"),
        ("POST", f"/v1/alerts/{alert['id']}/resolve"),
    ):
        assert api.call(method, path, {} if method == "POST" else None, token=other).status_code == 404
    # admins see every alert
    create_admin()
    admin = _data(api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"}))
    assert [a["id"] for a in _alerts(api, admin["accessToken"], "?status=open")] == [alert["id"]]
    assert _alerts(api, admin["accessToken"], "?severity=info") == []


def test_offline_opens_and_online_resolves_the_offline_alert(
    api: Api, owner: str, published: RecordingPublisher
) -> None:
    meter = create_device(api, owner, name="meter", type="meter")
    at = clock.now_ms()
    evaluate(status_changed(meter, "offline", at))
    (alert,) = _alerts(api, owner, "?status=open")
    assert alert["kind"] == "offline" and alert["severity"] == "warning" and alert["type"] == "offline"
    evaluate(status_changed(meter, "offline", at + 10))  # a repeat: no second alert
    assert len(_alerts(api, owner)) == 1
    evaluate(status_changed(meter, "online", at + 60_000, previous="offline"))
    (alert,) = _alerts(api, owner)
    assert alert["status"] == "resolved" and alert["resolvedBy"] == "auto"


def test_a_threshold_rule_holds_for_its_for_s_before_opening_and_before_resolving(
    api: Api, owner: str, published: RecordingPublisher
) -> None:
    meter = create_device(api, owner, name="meter", type="meter")
    body = {
        "name": "hot",
        "deviceId": meter["id"],
        "kind": "threshold",
        "metric": "power_w",
        "operator": ">",
        "threshold": 5000,
        "forS": 60,
        "severity": "warning",
        "channels": ["email"],
    }
    response = api.call("POST", "/v1/alert-rules", body, token=owner)
    assert response.status_code == 201, response.body
    t0 = clock.now_ms()
    evaluate(readings_accepted(meter, (t0, {"power_w": 6000}), (t0 + 30_000, {"power_w": 7000})))
    assert _alerts(api, owner) == []  # held only 30 s
    evaluate(readings_accepted(meter, (t0 + 60_000, {"power_w": 6500})))
    (alert,) = _alerts(api, owner)
    assert alert["status"] == "open" and alert["lastValue"] == 6500 and alert["metric"] == "power_w"
    assert published.of("AlertOpened")[0]["channels"] == ["email"]
    evaluate(readings_accepted(meter, (t0 + 70_000, {"power_w": 100})))
    assert _alerts(api, owner)[0]["status"] == "open"  # clear only 0 s
    evaluate(readings_accepted(meter, (t0 + 130_000, {"power_w": 100})))
    assert _alerts(api, owner)[0]["status"] == "resolved"


def test_a_manual_resolve_lets_the_next_breach_open_a_new_alert(
    api: Api, owner: str, published: RecordingPublisher
) -> None:
    sensor = create_device(api, owner, name="tank", type="gas_sensor")
    t0 = clock.now_ms()
    evaluate(readings_accepted(sensor, (t0, {"leak": True})))
    (alert,) = _alerts(api, owner)
    response = api.call("POST", f"/v1/alerts/{alert['id']}/resolve", token=owner)
    assert response.status_code == 200, response.body
    assert _data(response)["status"] == "resolved" and _data(response)["resolvedBy"]
    assert api.call("POST", f"/v1/alerts/{alert['id']}/resolve", token=owner).status_code == 409
    evaluate(readings_accepted(sensor, (t0 + 1000, {"leak": True})))
    assert len(_alerts(api, owner, "?status=open")) == 1 and len(_alerts(api, owner)) == 2


def test_critical_alerts_are_reminded_four_times_then_escalated(
    api: Api, owner: str, published: RecordingPublisher
) -> None:
    sensor = create_device(api, owner, name="tank", type="gas_sensor")
    with clock.frozen() as now:
        evaluate(readings_accepted(sensor, (now(), {"leak": True})))
        assert _reminded() == {"reminders": 0, "escalations": 0}
        for n in range(1, 5):
            now.advance(900)
            assert _reminded() == {"reminders": 1, "escalations": 0}
            assert _reminded() == {"reminders": 0, "escalations": 0}  # not twice
            assert published.of("AlertReminder")[-1]["occurrence"] == f"reminder-{n}"
        now.advance(900)
        assert _reminded() == {"reminders": 0, "escalations": 1}
        (escalated,) = published.of("AlertEscalated")
        assert escalated["audience"] == "operators" and escalated["alert"]["escalated"] is True
        now.advance(3600)
        assert _reminded() == {"reminders": 0, "escalations": 0}
        assert escalated["alert"]["reminders"] == 4


def test_an_acknowledged_alert_is_not_reminded(api: Api, owner: str, published: RecordingPublisher) -> None:
    sensor = create_device(api, owner, name="tank", type="gas_sensor")
    with clock.frozen() as now:
        evaluate(readings_accepted(sensor, (now(), {"leak": True})))
        (alert,) = _alerts(api, owner)
        api.call("POST", f"/v1/alerts/{alert['id']}/acknowledge", {"note": None}, token=owner)
        now.advance(3600)
        assert _reminded() == {"reminders": 0, "escalations": 0}


def test_a_warning_alert_is_never_reminded(api: Api, owner: str, published: RecordingPublisher) -> None:
    meter = create_device(api, owner, name="meter", type="meter")
    with clock.frozen() as now:
        evaluate(status_changed(meter, "offline", now()))
        now.advance(3600)
        assert _reminded() == {"reminders": 0, "escalations": 0}


def test_malformed_and_foreign_events_are_dropped_not_retried(
    aws: dict[str, str], published: RecordingPublisher
) -> None:
    from tests.support.alerts import eventbridge_event

    result = evaluate(
        eventbridge_event("gridshare.market", "TradeCleared", {}),
        eventbridge_event("gridshare.telemetry", "ReadingsAccepted", {"readings": [{"nope": 1}]}),
    )
    assert result == {"batchItemFailures": []}
