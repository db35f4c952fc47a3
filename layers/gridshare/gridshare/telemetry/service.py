"""Telemetry use cases: ingest a device message, replay a dead letter, read latest and history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import msgspec

from gridshare.devices.service import DeviceRef, DeviceService, note_seen
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.deadline import NEVER, Deadline, request_deadline
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.roles import Caller
from gridshare.kernel.settings import get_settings
from gridshare.telemetry.calibration import CalibrationPlan, calibrate_payload, compile_calibration, decode_calibrated
from gridshare.telemetry.dead_letters import DeadLetterStore, dead_letter_view
from gridshare.telemetry.reading_events import accepted_from, accepted_template
from gridshare.telemetry.readings import (
    COUNTERS,
    METRICS,
    RESOLUTIONS,
    CounterState,
    Reason,
    TelemetryValidator,
)
from gridshare.telemetry.retention import retention_policy
from gridshare.telemetry.rollups import (
    counter_state,
    rollup_deltas,
)
from gridshare.telemetry.store import StoreOutcome, TelemetryStore

MAX_STALE_RETRIES = 5
DEVICE_TTL_MS = 60_000
# The longest `to - from` of one history request per resolution, in days (docs/api.md). A raw history
# reads one DynamoDB partition per UTC day, so 31 days is at most 32 partitions (store.MAX_RAW_DAYS).
HISTORY_MAX_DAYS: dict[str, int] = {"raw": 31, "15m": 31, "1h": 92, "1d": 366}


class IngestOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


# Enum members as module globals on the hot path: `Enum.MEMBER` costs ~0.2-0.3 µs on Python 3.11 (a
# descriptor on the enum class), a global ~20 ns; a stored reading compared and returned four of them.
_STORED, _DUPLICATE, _SEQ_REUSED, _STALE_LATEST = (
    StoreOutcome.STORED,
    StoreOutcome.DUPLICATE,
    StoreOutcome.SEQ_REUSED,
    StoreOutcome.STALE_LATEST,
)
_INGEST_STORED, _INGEST_DUPLICATE = IngestOutcome.STORED, IngestOutcome.DUPLICATE


class IngestResult(msgspec.Struct, frozen=True):
    outcome: IngestOutcome
    device_id: str | None = None
    dead_letter_id: str | None = None
    reasons: tuple[Reason, ...] = ()
    accepted: dict[str, Any] | None = None  # the reading as ReadingsAccepted carries it (reading_events)


class _Sender(msgspec.Struct, frozen=True):
    """A device as ingest keeps it per container (re-read after DEVICE_TTL_MS): its calibration compiled
    (None: every message takes `calibrate_payload` + `validate`) and the device's part of ReadingsAccepted."""

    device: DeviceRef
    read_at: int
    plan: CalibrationPlan | None
    event: dict[str, Any]


def _validator() -> TelemetryValidator:
    settings = get_settings()
    return TelemetryValidator(
        max_future_ms=settings.max_future_s * 1000, backfill_ms=settings.backfill_days * 86_400_000
    )


@dataclass
class TelemetryService:
    # Raw items expire by TTL after GS_TELEMETRY_RAW_RETENTION_DAYS, archived before (decision 0024).
    store: TelemetryStore = field(default_factory=lambda: TelemetryStore(raw_ttl_s=retention_policy().ttl_s))
    dead_letters: DeadLetterStore = field(default_factory=DeadLetterStore)
    validator: TelemetryValidator = field(default_factory=_validator)
    # The devices context, injectable so that a bench or a unit test runs ingest without DynamoDB: the device
    # a thing name belongs to, and "the device sent something at" (its health, devices.health_service).
    find_device: Callable[[str], DeviceRef | None] = DeviceService.find_by_thing
    seen: Callable[[str, int], object] = note_seen
    # thing name -> the device and when it was read, per container; re-read after DEVICE_TTL_MS so that a
    # new calibration (PUT /v1/devices/{id}/config) applies within a minute.
    _devices: dict[str, _Sender] = field(default_factory=dict)
    # device id -> the latest counter state this container wrote. Safe to trust: storing a newer reading
    # is conditioned on the stored latest timestamp, so a stale entry ends in STALE_LATEST and a re-read.
    _states: dict[str, CounterState] = field(default_factory=dict)

    def _sender(self, thing_name: str, now: int) -> _Sender | None:
        cached = self._devices.get(thing_name)
        if cached is None or now - cached.read_at >= DEVICE_TTL_MS or now < cached.read_at:
            device = self.find_device(thing_name)
            if device is None:
                return None
            if cached is not None and cached.device == device:  # unchanged: keep what was compiled from it
                cached = self._devices[thing_name] = _Sender(device, now, cached.plan, cached.event)
            else:
                event = accepted_template(device.id, device.owner_id, device.type)
                plan = compile_calibration(device.calibration)
                cached = self._devices[thing_name] = _Sender(device, now, plan, event)
        return cached

    def _device(self, thing_name: str) -> DeviceRef | None:
        sender = self._sender(thing_name, now_ms())
        return None if sender is None else sender.device

    def process(self, thing_name: str, payload: bytes, received_at: int, topic: str | None = None) -> IngestResult:
        """Validate and store one message; what cannot be stored is dead-lettered with every reason.

        The hot path (decision 0026): one typed decode that also calibrates (`decode_calibrated`), the
        clock and counter checks, the raw item's put. A message it refuses takes the reference path
        (`calibrate_payload`, then `validate`: jsonschema names every reason), which decides."""
        now = now_ms()
        sender = self._devices.get(thing_name)
        if sender is None or not 0 <= now - sender.read_at < DEVICE_TTL_MS:
            sender = self._sender(thing_name, now)
        if sender is None:
            reasons = [Reason("thingName", f"no registered device is called '{thing_name}'")]
            return self._reject(thing_name, None, topic, payload, received_at, reasons)
        device = sender.device
        if device.decommissioned_at is not None:
            reasons = [Reason("thingName", f"the device '{thing_name}' is decommissioned")]
            return self._reject(thing_name, device.id, topic, payload, received_at, reasons)
        decoded = decode_calibrated(sender.plan, payload) if sender.plan is not None else None
        message: bytes | dict[str, Any] = payload
        uncalibrated: dict[str, Any] = {}
        if decoded is None:
            message, uncalibrated = calibrate_payload(payload, device.calibration, COUNTERS)
        store = self.store
        for _ in range(MAX_STALE_RETRIES):
            previous = self._states.get(device.id) or store.counter_state(device.id)
            if decoded is not None:
                ts, seq, metrics, uncalibrated = decoded
                result = self.validator.accept(device.id, ts, seq, metrics, now_ms=now, previous=previous)
            else:
                result = self.validator.validate(message, device_id=device.id, now_ms=now, previous=previous)
            reading = result.reading
            if reading is None:
                return self._reject(thing_name, device.id, topic, payload, received_at, list(result.reasons))
            if store.writes_rollups:  # decision 0003's transaction
                new_state = counter_state(reading, previous)
                deltas = rollup_deltas(reading, previous)
                outcome = store.store(reading, deltas, previous, new_state, received_at, uncalibrated=uncalibrated)
            else:
                previous_ts = previous.ts if previous is not None else None
                outcome = store.store_raw(reading, previous_ts, received_at, uncalibrated, now)
                new_state = None
            if outcome is _STALE_LATEST:
                self._states.pop(device.id, None)
                continue
            if outcome is _STORED:
                self._states[device.id] = new_state or counter_state(reading, previous)
                self.seen(device.id, received_at)  # keeps it online (devices.health_service)
                return IngestResult(_INGEST_STORED, device.id, accepted=accepted_from(sender.event, reading))
            if outcome is _DUPLICATE:
                self.seen(device.id, received_at)  # a redelivery: the first attempt may have failed after storing
                return IngestResult(_INGEST_DUPLICATE, device.id, accepted=accepted_from(sender.event, reading))
            if outcome is _SEQ_REUSED:
                reasons = [Reason("seq", f"sequence number {reading.seq} was already used by another reading")]
                return self._reject(thing_name, device.id, topic, payload, received_at, reasons)
        raise errors.Unavailable("The device's latest reading kept changing; the message will be retried.")

    def _reject(
        self,
        thing_name: str,
        device_id: str | None,
        topic: str | None,
        payload: bytes,
        received_at: int,
        reasons: list[Reason],
    ) -> IngestResult:
        letter_id = self.dead_letters.put(
            thing_name=thing_name,
            device_id=device_id,
            topic=topic,
            payload=payload,
            received_at=received_at,
            reasons=reasons,
        )
        return IngestResult(IngestOutcome.DEAD_LETTERED, device_id, letter_id, tuple(reasons))

    # ------------------------------------------------------------ dead letters (admin)
    def list_dead_letters(self, status: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        items, next_key = self.dead_letters.list(status, limit, decode_cursor(cursor))
        return [dead_letter_view(i) for i in items], encode_cursor(next_key)

    def replay(self, letter_id: str) -> dict[str, Any]:
        """Run a dead letter through ingest again (after the cause was fixed, e.g. a device registered)."""
        import base64

        letter = self.dead_letters.get(letter_id)
        if letter is None:
            raise errors.NotFound("No such dead letter.")
        if letter.status != "open":
            raise errors.Conflict("This dead letter was already replayed.")
        payload = base64.b64decode(letter.payload)
        device = self._device(letter.thing_name or "")
        if device is None:
            reasons = [Reason("thingName", f"no registered device is called '{letter.thing_name}'")]
            self.dead_letters.record_failed_replay(letter, reasons)
            raise errors.InvalidInput(
                "The message is still invalid.", errors=[errors.FieldError(r.field, r.message) for r in reasons]
            )
        previous = self.store.counter_state(device.id)
        message, uncalibrated = calibrate_payload(payload, device.calibration, COUNTERS)
        result = self.validator.validate(message, device_id=device.id, now_ms=now_ms(), previous=previous)
        if not result.ok or result.reading is None:
            self.dead_letters.record_failed_replay(letter, list(result.reasons))
            raise errors.InvalidInput(
                "The message is still invalid.", errors=[errors.FieldError(r.field, r.message) for r in result.reasons]
            )
        reading = result.reading
        outcome = self.store.store(
            reading,
            rollup_deltas(reading, previous),
            previous,
            counter_state(reading, previous),
            int(letter.received_at),
            uncalibrated=uncalibrated,
        )
        if outcome in (StoreOutcome.SEQ_REUSED, StoreOutcome.STALE_LATEST):
            raise errors.Conflict(f"The reading could not be stored ({outcome.value}); try again.")
        self.dead_letters.mark_replayed(letter)
        refreshed = self.dead_letters.get(letter_id)
        return {**dead_letter_view(refreshed or letter), "outcome": outcome.value}

    # ------------------------------------------------------------ reads
    def latest(self, caller: Caller, device_id: str) -> dict[str, Any]:
        device = DeviceService.get_owned(caller, device_id)
        latest = self.store.latest(device.id)
        if latest is None:
            raise errors.NotFound("This device has not reported a reading yet.")
        return {
            "deviceId": device.id,
            "ts": to_iso(latest["ts"]),
            "seq": latest["seq"],
            "receivedAt": to_iso(latest["receivedAt"]),
            "metrics": latest["metrics"],
            "units": {m: METRICS[m].unit for m in latest["metrics"] if m in METRICS},
        }

    def history(
        self,
        caller: Caller,
        device_id: str,
        metric: str,
        start: int,
        end: int,
        resolution: str,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        device = DeviceService.get_owned(caller, device_id)
        if metric not in METRICS:
            raise errors.InvalidInput(
                "Unknown metric.", errors=[errors.FieldError("metric", f"one of {sorted(METRICS)}")]
            )
        # Here, not at import: gridshare.http pulls chalice and the token verifier (jwt, cryptography),
        # which the ingest Lambda, importing this module, never uses.
        from gridshare.http.ranges import check_span

        check_span(start, end, HISTORY_MAX_DAYS[resolution], what=f" at resolution {resolution}")
        deadline = request_deadline()
        position = decode_cursor(cursor) or {}
        if resolution == "raw":
            # Days past the raw retention come from the S3 archive (decision 0024), transparently.
            from gridshare.telemetry.raw_archive import raw_archive

            rows, after = self.store.raw(
                device.id, start, end, limit, position.get("after"), deadline=deadline, archive=raw_archive()
            )
            points = [
                {"ts": to_iso(r["ts"]), "seq": r["seq"], "value": r["metrics"][metric]}
                | ({"uncalibrated": r["uncalibrated"][metric]} if metric in r.get("uncalibrated", {}) else {})
                for r in rows
                if metric in r["metrics"]
            ]
            return points, encode_cursor({"after": after}) if after else None
        buckets, last = self.store.rollups(device.id, resolution, start, end, limit, position.get("after"))
        points = []
        kind = METRICS[metric].kind
        for b in buckets:
            point: dict[str, Any] = {"ts": to_iso(b["bucket"]), "count": b["n"]}
            if kind == "counter":
                if metric not in b["energy"]:
                    continue
                point["energyWh"] = b["energy"][metric]
            else:
                count = b["counts"].get(metric, 0)
                if metric not in b["sums"] or count == 0:
                    continue
                point["count"] = count
                point["avg"] = b["sums"][metric] / count
            points.append(point)
        return points, encode_cursor({"after": last}) if last is not None else None

    def energy_buckets(
        self, device_id: str, resolution: str, start: int, end: int, *, deadline: Deadline = NEVER
    ) -> dict[int, dict[str, int]]:
        """Bucket start -> counter -> interval energy (Wh) of a device's rollups in [start, end).

        For a context that has already checked the caller may see the device (sites, through
        DeviceService). Reads every page; a read that outlasts the request's deadline is a 503.
        """
        if resolution not in RESOLUTIONS:
            raise ValueError(f"unknown resolution {resolution!r}")
        out: dict[int, dict[str, int]] = {}
        after: int | None = None
        while True:
            buckets, after = self.store.rollups(device_id, resolution, start, end, ENERGY_PAGE, after)
            for bucket in buckets:
                if bucket["energy"]:
                    out[bucket["bucket"]] = dict(bucket["energy"])
            if after is None:
                return out
            if deadline.passed():
                raise errors.Unavailable("Reading the devices' energy took longer than the request may; ask for less.")

    def latest_readings(self, device_ids: list[str], *, deadline: Deadline = NEVER) -> dict[str, dict[str, Any]]:
        """device id -> its latest reading (``ts``, ``seq``, ``metrics``, ``receivedAt``, epoch ms), for the
        ids that have one. For a context that has already checked the caller may see the devices (grid:
        operators and admins). Batched reads; one that outlasts the deadline is a 503."""
        try:
            return self.store.latest_batch(device_ids, deadline=deadline)
        except TimeoutError:
            raise errors.Unavailable("Reading the meters' latest readings took longer than the request may.") from None

    def rollup_buckets(
        self, device_id: str, resolution: str, start: int, end: int, *, deadline: Deadline = NEVER
    ) -> list[dict[str, Any]]:
        """A device's rollup buckets in [start, end) (``bucket``, ``n``, ``sums``, ``counts``, ``energy``),
        every page; for a context that has checked the caller may see the device. Past the deadline: 503."""
        if resolution not in RESOLUTIONS:
            raise ValueError(f"unknown resolution {resolution!r}")
        out: list[dict[str, Any]] = []
        after: int | None = None
        while True:
            buckets, after = self.store.rollups(device_id, resolution, start, end, ENERGY_PAGE, after)
            out.extend(buckets)
            if after is None:
                return out
            if deadline.passed():
                raise errors.Unavailable("Reading the meters' rollups took longer than the request may; ask for less.")


ENERGY_PAGE = 1000

RESOLUTION_NAMES = ("raw", *RESOLUTIONS)


telemetry_service = ServiceFactory(TelemetryService)
