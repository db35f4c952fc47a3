"""The alert events' shapes against docs/events.md and the sample events in events/: what ingest publishes is
what the evaluator reads, and an alert event carries exactly the alert's public JSON."""

from __future__ import annotations

from gridshare.alerts import alert_events
from gridshare.alerts.responses import Alert
from gridshare.telemetry.reading_events import READINGS_PER_EVENT, accepted_reading, entries
from tests.support.events import load_event


def test_ingest_publishes_readings_as_the_sample_shows() -> None:
    sample = load_event("eventbridge_readings_accepted")
    (reading,) = sample["detail"]["readings"]
    made = accepted_reading("D", "U", "gas_sensor", 1_764_742_200_000, {"leak": True})
    assert set(made) == set(reading) and made["siteId"] is None and made["ts"].endswith("Z")
    many = entries([made] * (READINGS_PER_EVENT + 1))
    assert [(e["Source"], e["DetailType"]) for e in many] == [("gridshare.telemetry", "ReadingsAccepted")] * 2


def test_an_alert_event_carries_the_alerts_public_json() -> None:
    sample = load_event("eventbridge_alert_opened")
    Alert.model_validate(sample["detail"]["alert"], strict=False)
    entry = alert_events.alert_event(alert_events.OPENED, sample["detail"]["alert"], ["email"], "opened")
    assert entry["Source"] == sample["source"] and entry["DetailType"] == sample["detail-type"]
    assert set(entry["Detail"]) == set(sample["detail"]) == {"alert", "ownerId", "channels", "occurrence", "audience"}
