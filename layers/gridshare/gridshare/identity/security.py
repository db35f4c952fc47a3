"""Reading the security event log: the admin's event list, the dashboard and derived threats.

Events are written by gridshare.identity.security_log into one partition per UTC day, ids are ULIDs
(so an id range is a time range), with GSIs `by_user` and `by_type` keyed on (user_id|type, id).

- A filtered list (user and/or type) is one GSI query over the id range of [from, to).
- An unfiltered list walks the day partitions newest first, from the day of `to` back to the day of
  `from`. Its cursor holds the day and the id of the last event returned; the next page resumes in that
  day just below that id and continues into earlier days, so pages never skip or repeat across midnight.
  A walk stops at the request's deadline (gridshare.kernel.deadline) with a cursor into the next day.

A range is at most MAX_RANGE_DAYS long (92 days: at most 93 day partitions), filtered or not.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from gridshare.http.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from gridshare.http.ranges import check_span
from gridshare.identity.models import RateLimitModel, SecurityEventModel
from gridshare.identity.security_log import EVENT_TYPES
from gridshare.identity.threats import (
    DEFAULT_BRUTE_FORCE_THRESHOLD,
    DEFAULT_STUFFING_THRESHOLD,
    DEFAULT_WINDOW_MS,
    RELEVANT_TYPES,
    SecurityEvent,
    Threat,
    detect_threats,
)
from gridshare.kernel import clock, errors, ids
from gridshare.kernel.deadline import NEVER, Deadline, request_deadline
from gridshare.kernel.factory import ServiceFactory

DAY_MS = 86_400_000
DEFAULT_RANGE_DAYS = 7
MAX_RANGE_DAYS = 92  # the longest `to - from` of a list; an unfiltered one walks a partition per day
MAX_SCANNED_EVENTS = 50_000  # per event type read by the dashboard and threats; beyond it, `truncated`
_MAX_ULID_MS = 2**48 - 1

# Rate-limit keys that are lockouts of an account (kind shown on the dashboard) and IP throttles.
ACCOUNT_LOCK_PREFIXES = {"login:acct:": "login", "totp:": "2fa", "reset:acct:": "reset"}
IP_THROTTLE_PREFIXES = {"login:ip:": "login", "reset:ip:": "reset"}


# ------------------------------------------------------------------ ids and days
def id_floor(ms: int) -> str:
    """The smallest ULID of millisecond `ms`: `id >= id_floor(t)` means created at or after t."""
    ms = min(max(ms, 0), _MAX_ULID_MS)
    return ids.from_parts(ms, b"\x00" * 10)


def id_ceiling(ms: int) -> str:
    """The largest ULID of millisecond `ms`: `id <= id_ceiling(t)` means created at or before t."""
    ms = min(max(ms, 0), _MAX_ULID_MS)
    return ids.from_parts(ms, b"\xff" * 10)


def _id_before(event_id: str) -> str | None:
    """The ULID just below `event_id` (None if there is none): resumes a newest-first list."""
    value = ids.to_int(event_id)
    return ids.from_int(value - 1) if value > 0 else None


def _id_after(event_id: str) -> str:
    """The ULID just above `event_id`: a cursor id whose `_id_before` is `event_id`."""
    return ids.from_int(min(ids.to_int(event_id) + 1, ids.MAX))


def _days_newest_first(from_ms: int, to_ms: int) -> list[str]:
    first = datetime.fromtimestamp(max(from_ms, 0) / 1000, tz=UTC).date()
    last = datetime.fromtimestamp(max(to_ms, 0) / 1000, tz=UTC).date()
    return [(last - timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


# ------------------------------------------------------------------ shapes
def event_view(event: SecurityEventModel) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "at": clock.to_iso(int(event.at)),
        "userId": event.user_id,
        "emailHash": event.email_hash,
        "ip": event.ip,
        "userAgent": event.user_agent,
        "detail": event.detail,
    }


def threat_view(threat: Threat) -> dict[str, Any]:
    return {
        "type": threat.kind,
        "severity": threat.severity,
        "subject": {"kind": threat.subject_kind, "id": threat.subject, "userId": threat.user_id},
        "count": threat.count,
        "counts": dict(threat.counts),
        "ips": list(threat.ips),
        "firstSeen": clock.to_iso(threat.first_seen),
        "lastSeen": clock.to_iso(threat.last_seen),
    }


def _to_domain(event: SecurityEventModel) -> SecurityEvent:
    return SecurityEvent(
        type=event.type,
        at=int(event.at),
        user_id=event.user_id,
        email_hash=event.email_hash,
        ip=event.ip,
        detail=event.detail if isinstance(event.detail, dict) else None,
    )


def _invalid(field: str, message: str) -> errors.InvalidInput:
    return errors.InvalidInput(
        f"The query has invalid parameters: {message}.", errors=[errors.FieldError(field, message)]
    )


class SecurityService:
    # ------------------------------------------------------------------ events
    def events(
        self,
        user_id: str | None = None,
        event_type: str | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        *,
        now_ms: int | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Events newest first in [from, to) (default: the 7 days before now), and the next cursor."""
        if event_type is not None and event_type not in EVENT_TYPES:
            raise _invalid("type", f"one of {', '.join(EVENT_TYPES)}")
        end = to_ms if to_ms is not None else (now_ms if now_ms is not None else clock.now_ms()) + 1
        start = from_ms if from_ms is not None else end - DEFAULT_RANGE_DAYS * DAY_MS
        check_span(start, end, MAX_RANGE_DAYS)
        deadline = request_deadline()
        lo, hi = id_floor(start), id_ceiling(end - 1)
        resume_day = None
        position = decode_cursor(cursor)
        if position is not None:
            try:
                below = _id_before(str(position["id"]))
                resume_day = str(position["day"])
            except (KeyError, ValueError, TypeError):
                raise errors.BadRequest(
                    "The cursor is not valid; use the nextCursor of a previous page.",
                    errors=[errors.FieldError("cursor", "not a cursor of /v1/security/events")],
                ) from None
            if below is None or below < lo:
                return [], None
            hi = min(hi, below)

        want = limit + 1  # one more than a page tells whether there is a next page
        cut_at: str | None = None  # the day a walk stopped before, at the deadline
        if user_id or event_type:
            found = list(self._query_index(user_id, event_type, lo, hi, want))
        else:
            days = _days_newest_first(start, end - 1)
            if resume_day is not None:
                days = [d for d in days if d <= resume_day]
            found, cut_at = self._walk_days(days, lo, hi, want, deadline)

        page, more = found[:limit], len(found) > limit
        if cut_at is not None:  # every event above the cut is on this page: resume in that day below it
            next_cursor = encode_cursor({"day": cut_at, "id": page[-1].id if page else _id_after(hi)})
        else:
            next_cursor = encode_cursor({"day": page[-1].day, "id": page[-1].id}) if more and page else None
        return [event_view(e) for e in page], next_cursor

    @staticmethod
    def _query_index(
        user_id: str | None, event_type: str | None, lo: str, hi: str, want: int
    ) -> Iterator[SecurityEventModel]:
        id_range = SecurityEventModel.id.between(lo, hi)
        if user_id:
            # A user has fewer events than a type: query by user and filter by type.
            return SecurityEventModel.by_user.query(
                user_id,
                range_key_condition=id_range,
                filter_condition=(SecurityEventModel.type == event_type) if event_type else None,
                scan_index_forward=False,
                limit=want,
                page_size=max(want, 100) if event_type else want,
            )
        return SecurityEventModel.by_type.query(
            event_type, range_key_condition=id_range, scan_index_forward=False, limit=want
        )

    @staticmethod
    def _walk_days(
        days: list[str], lo: str, hi: str, want: int, deadline: Deadline = NEVER
    ) -> tuple[list[SecurityEventModel], str | None]:
        """Day partitions newest first until `want` events, and the day it stopped before if the deadline
        passed first (never before the first day). The id bound applies to every day (after a cursor, `hi`
        is just below its id), which also keeps an event whose id is a millisecond past its day (id and
        time are taken separately) from showing twice."""
        found: list[SecurityEventModel] = []
        for index, day in enumerate(days):
            if index and deadline.passed():
                return found, day
            found.extend(
                SecurityEventModel.query(
                    day,
                    range_key_condition=SecurityEventModel.id.between(lo, hi),
                    scan_index_forward=False,
                    limit=want - len(found),
                )
            )
            if len(found) >= want:
                break
        return found, None

    # ------------------------------------------------------------------ dashboard
    def dashboard(self, now_ms: int | None = None) -> dict[str, Any]:
        now = now_ms if now_ms is not None else clock.now_ms()
        hi, lo_day, lo_week = id_ceiling(now), id_floor(now - DAY_MS), id_floor(now - 7 * DAY_MS)
        last_day: dict[str, int] = {}
        last_week: dict[str, int] = {}
        for event_type in EVENT_TYPES:
            index = SecurityEventModel.by_type
            last_week[event_type] = index.count(event_type, SecurityEventModel.id.between(lo_week, hi))
            last_day[event_type] = (
                index.count(event_type, SecurityEventModel.id.between(lo_day, hi)) if last_week[event_type] else 0
            )
        failures, truncated = self._recent("login_failed", lo_day, hi)
        locks, throttles = self._current_locks(now)
        return {
            "generatedAt": clock.to_iso(now),
            "counts": {"last24h": last_day, "last7d": last_week},
            "totals": {"last24h": sum(last_day.values()), "last7d": sum(last_week.values())},
            "lockedAccounts": locks,
            "throttledIps": throttles,
            "topFailingIps": self._top_failing_ips(failures),
            "truncated": truncated,
        }

    @staticmethod
    def _recent(
        event_type: str, lo: str, hi: str, attributes: list[str] | None = None
    ) -> tuple[list[SecurityEventModel], bool]:
        """Events of one type in an id range, newest first, at most MAX_SCANNED_EVENTS (and whether cut)."""
        result = SecurityEventModel.by_type.query(
            event_type,
            range_key_condition=SecurityEventModel.id.between(lo, hi),
            scan_index_forward=False,
            limit=MAX_SCANNED_EVENTS + 1,
            page_size=1000,
            attributes_to_get=attributes,
        )
        items = list(result)
        return items[:MAX_SCANNED_EVENTS], len(items) > MAX_SCANNED_EVENTS

    @staticmethod
    def _top_failing_ips(failures: Iterable[SecurityEventModel], top: int = 10) -> list[dict[str, Any]]:
        count: Counter[str] = Counter()
        accounts: dict[str, set[str]] = defaultdict(set)
        last: dict[str, int] = {}
        for event in failures:
            if not event.ip:
                continue
            count[event.ip] += 1
            accounts[event.ip].add(event.email_hash or f"user:{event.user_id}")
            last[event.ip] = max(last.get(event.ip, 0), int(event.at))
        ranked = sorted(count.items(), key=lambda item: (-item[1], -last[item[0]], item[0]))[:top]
        return [
            {"ip": ip, "failures": n, "accounts": len(accounts[ip]), "lastSeen": clock.to_iso(last[ip])}
            for ip, n in ranked
        ]

    def _current_locks(self, now_ms: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Current lockouts and IP throttles.

        A scan with a filter: the rate-limit table is small (one item per key that failed within a
        window, and items expire by TTL), so reading all of it per dashboard view is acceptable. If it
        ever grows, keep locks in their own GSI (sparse on locked_until) instead.
        """
        now_s = now_ms / 1000
        prefixes = (*ACCOUNT_LOCK_PREFIXES, *IP_THROTTLE_PREFIXES)
        condition = RateLimitModel.locked_until > now_s
        wanted = RateLimitModel.key.startswith(prefixes[0])
        for prefix in prefixes[1:]:
            wanted = wanted | RateLimitModel.key.startswith(prefix)
        locks: list[dict[str, Any]] = []
        throttles: list[dict[str, Any]] = []
        for item in RateLimitModel.scan(filter_condition=condition & wanted):
            until = clock.to_iso(int(item.locked_until) * 1000)
            for prefix, kind in ACCOUNT_LOCK_PREFIXES.items():
                if item.key.startswith(prefix):
                    subject = item.key[len(prefix) :]
                    is_user = kind == "2fa"
                    locks.append(
                        {
                            "kind": kind,
                            "emailHash": None if is_user else subject,
                            "userId": subject if is_user else None,
                            "lockedUntil": until,
                        }
                    )
            for prefix, kind in IP_THROTTLE_PREFIXES.items():
                if item.key.startswith(prefix):
                    throttles.append({"kind": kind, "ip": item.key[len(prefix) :], "lockedUntil": until})
        self._resolve_users(locks, now_ms)
        locks.sort(key=lambda lock: (lock["lockedUntil"], lock["kind"]), reverse=True)
        throttles.sort(key=lambda lock: (lock["lockedUntil"], lock["ip"]), reverse=True)
        return locks, throttles

    def _resolve_users(self, locks: list[dict[str, Any]], now_ms: int) -> None:
        """Fill in the user of locked email hashes from recent lockout events (null: an unknown email)."""
        hashes = {lock["emailHash"] for lock in locks if lock["emailHash"]}
        if not hashes:
            return
        events, _ = self._recent(
            "account_locked", id_floor(now_ms - 7 * DAY_MS), id_ceiling(now_ms), ["day", "id", "user_id", "email_hash"]
        )
        users: dict[str, str] = {}
        for event in events:  # newest first: keep the newest user per hash
            if event.email_hash in hashes and event.user_id:
                users.setdefault(event.email_hash, event.user_id)
        for lock in locks:
            if lock["emailHash"] and not lock["userId"]:
                lock["userId"] = users.get(lock["emailHash"])

    # ------------------------------------------------------------------ threats
    def threats(
        self,
        now_ms: int | None = None,
        window_ms: int = DEFAULT_WINDOW_MS,
        lookback_ms: int = DAY_MS,
        *,
        brute_force_threshold: int = DEFAULT_BRUTE_FORCE_THRESHOLD,
        stuffing_threshold: int = DEFAULT_STUFFING_THRESHOLD,
    ) -> dict[str, Any]:
        """Threats derived from the events of the last `lookback_ms` (windows of `window_ms`)."""
        now = now_ms if now_ms is not None else clock.now_ms()
        since = now - lookback_ms
        lo, hi = id_floor(since), id_ceiling(now)
        events: list[SecurityEvent] = []
        truncated = False
        for event_type in RELEVANT_TYPES:
            items, cut = self._recent(event_type, lo, hi)
            truncated = truncated or cut
            events.extend(_to_domain(item) for item in items)
        found = detect_threats(
            events,
            window_ms=window_ms,
            brute_force_threshold=brute_force_threshold,
            stuffing_threshold=stuffing_threshold,
            since_ms=since,
            until_ms=now,
        )
        return {
            "threats": [threat_view(t) for t in found],
            "from": clock.to_iso(since),
            "to": clock.to_iso(now),
            "windowMinutes": window_ms // 60_000,
            "thresholds": {"bruteForce": brute_force_threshold, "credentialStuffing": stuffing_threshold},
            "eventsRead": len(events),
            "truncated": truncated,
        }


security_service = ServiceFactory(SecurityService)
