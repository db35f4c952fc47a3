"""generation_drop / consumption_spike against moto: a meter's readings ingested over a week fill the
15-minute rollups; the alerts schedule compares the closed quarter-hour with the same quarter-hour of the
previous 7 days (through the telemetry service) and opens the rule's alert once per quarter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gridshare.alerts.baseline import DAY_MS, closed_quarter
from gridshare.alerts.lifecycle import Evaluator
from gridshare.alerts.reminders import Reminders
from gridshare.alerts.service import evaluator, reminders
from gridshare.kernel import clock
from tests.support.alerts import RecordingPublisher, run_reminders
from tests.support.api import Api, register_user
from tests.support.devices import create_device, ingest

MINUTE = 60_000


@pytest.fixture
def published(aws: dict[str, str]) -> Iterator[RecordingPublisher]:
    publisher = RecordingPublisher()
    evaluator.use(Evaluator(publisher=publisher, site_of=lambda _: None))
    reminders.use(Reminders(publisher=publisher))
    yield publisher
    evaluator.reset()
    reminders.reset()


def _reading(ts: int, seq: int, export_wh: int) -> str:
    return json.dumps({"ts": ts, "seq": seq, "metrics": {"energy_export_wh": export_wh, "power_w": 0.0}})


def test_a_quarter_hour_far_below_its_week_opens_a_generation_drop_alert(
    api: Api, published: RecordingPublisher
) -> None:
    token = register_user(api, "pv@example.com")["accessToken"]
    meter = create_device(api, token, name="pv meter", type="meter")
    body = {"name": "pv drop", "deviceId": meter["id"], "kind": "generation_drop", "channels": ["email"]}
    created = api.call("POST", "/v1/alert-rules", body, token=token)
    assert created.status_code == 201, created.body
    rule = json.loads(created.body)["data"]
    assert rule["metric"] == "energy_export_wh" and rule["threshold"] == 3
    with clock.frozen() as now:
        real = now()
        quarter = closed_quarter(real)
        counter, seq = 10_000, 0
        # Given a week in which this quarter-hour exported about 1 kWh a day
        for day in range(7, 0, -1):
            start = quarter - day * DAY_MS
            now.set(start + 15 * MINUTE)
            for offset, wh in ((1, 0), (14, 1000 + 10 * day)):
                counter, seq = counter + wh, seq + 1
                assert ingest(meter["thingName"], _reading(start + offset * MINUTE, seq, counter)) == {
                    "batchItemFailures": []
                }
        # When today's same quarter-hour exports 10 Wh
        now.set(real)
        for offset, wh in ((1, 0), (14, 10)):
            counter, seq = counter + wh, seq + 1
            assert ingest(meter["thingName"], _reading(quarter + offset * MINUTE, seq, counter)) == {
                "batchItemFailures": []
            }
        # Then the schedule judges the rule and opens its alert, once for the quarter
        assert run_reminders()["baselines"] == 1
        assert run_reminders()["baselines"] == 0
        alerts: list[dict[str, Any]] = json.loads(api.call("GET", "/v1/alerts?status=open", token=token).body)["data"]
        drops = [a for a in alerts if a["kind"] == "generation_drop"]
        assert len(drops) == 1 and drops[0]["lastValue"] == 10 and drops[0]["metric"] == "energy_export_wh"
        (opened,) = [e for e in published.of("AlertOpened") if e["alert"]["kind"] == "generation_drop"]
        assert opened["channels"] == ["email"]
