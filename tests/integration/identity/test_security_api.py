"""Security events, dashboard and threats through the API (admin), against moto.

Chalice's test client sends every request from sourceIp 127.0.0.1, so all failures here come from one IP.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from gridshare.kernel import ids
from gridshare.kernel.clock import now_ms, parse_time
from tests.support.api import Api, create_admin, register_user

UA = {"User-Agent": "gridshare-tests/1.0 (security)"}
IP = "127.0.0.1"
PASSWORD = "Passw0rd!x"
DAY_MS = 86_400_000


def _hash(email: str) -> str:
    from gridshare.identity.security_log import email_hash

    return email_hash(email)


@pytest.fixture
def generous_ip_limit(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Many failures from 127.0.0.1 in one test: keep the per-IP limit out of the way."""
    from gridshare.kernel.settings import reset_settings

    monkeypatch.setenv("GS_IP_FAILURE_LIMIT", "1000")
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def admin(api: Api, generous_ip_limit: None) -> str:
    create_admin()
    response = api.call("POST", "/v1/auth/login", {"email": "admin@example.com", "password": "Adm1nPassw0rd"})
    assert response.status_code == 200, response.body
    return str(json.loads(response.body)["data"]["accessToken"])


def login(api: Api, email: str, password: str) -> Any:
    return api.call("POST", "/v1/auth/login", {"email": email, "password": password}, headers=UA)


def get(api: Api, token: str, path: str, **params: Any) -> Any:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    response = api.call("GET", f"{path}?{query}" if query else path, token=token)
    return response


def events(api: Api, token: str, **params: Any) -> list[dict[str, Any]]:
    response = get(api, token, "/v1/security/events", limit=200, **params)
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["pagination"]["nextCursor"] is None
    return list(body["data"])


def all_pages(api: Api, token: str, limit: int, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        response = get(api, token, "/v1/security/events", limit=limit, cursor=cursor, **params)
        assert response.status_code == 200, response.body
        body = json.loads(response.body)
        assert len(body["data"]) <= limit and body["pagination"]["limit"] == limit
        items += body["data"]
        pages += 1
        cursor = body["pagination"]["nextCursor"]
        if cursor is None:
            return items, pages
        assert pages < 100


def attack(api: Api) -> dict[str, Any]:
    """A user whose account gets locked, plus failures for unknown emails, all from 127.0.0.1."""
    victim = register_user(api, "victim@example.com")["user"]
    for attempt in range(5):
        response = login(api, "victim@example.com", f"wrong-{attempt}")
        assert response.status_code == 401, response.body
    # the account is now locked: even the right password is refused
    assert login(api, "victim@example.com", PASSWORD).status_code == 429
    for n in range(5):
        assert login(api, f"nobody{n}@example.com", "Guess123!").status_code == 401
    return victim


# ------------------------------------------------------------------ events
def test_failed_logins_and_a_lockout_are_logged_with_ip_and_user_agent(api: Api, admin: str) -> None:
    started = now_ms()
    victim = attack(api)
    ended = now_ms()

    failed = events(api, admin, type="login_failed")
    assert len(failed) == 10
    assert {e["type"] for e in failed} == {"login_failed"}
    on_victim = [e for e in failed if e["emailHash"] == _hash("victim@example.com")]
    assert len(on_victim) == 5 and {e["userId"] for e in on_victim} == {victim["id"]}
    unknown = [e for e in failed if e["emailHash"] == _hash("nobody0@example.com")]
    assert len(unknown) == 1 and unknown[0]["userId"] is None  # unknown emails: a hash, never the address
    for event in failed:
        assert event["ip"] == IP and event["userAgent"] == UA["User-Agent"]
        assert event["at"].endswith("Z") and started - 1 <= parse_time(event["at"]) <= ended + 1
        assert set(event) == {"id", "type", "at", "userId", "emailHash", "ip", "userAgent", "detail"}
        assert "victim@example.com" not in json.dumps(event) and "nobody" not in json.dumps(event)
    # newest first
    assert [e["id"] for e in failed] == sorted((e["id"] for e in failed), reverse=True)

    [locked] = events(api, admin, type="account_locked")
    assert locked["userId"] == victim["id"] and locked["emailHash"] == _hash("victim@example.com")
    assert locked["ip"] == IP and locked["userAgent"] == UA["User-Agent"]


def test_events_filter_by_user_type_and_time(api: Api, admin: str) -> None:
    victim = attack(api)
    mine = events(api, admin, userId=victim["id"])
    assert {e["userId"] for e in mine} == {victim["id"]}
    assert {e["type"] for e in mine} == {"login_succeeded", "login_failed", "account_locked"}
    assert len(events(api, admin, userId=victim["id"], type="login_failed")) == 5
    assert [e["type"] for e in events(api, admin, userId=victim["id"], type="account_locked")] == ["account_locked"]
    assert events(api, admin, userId="01JUNKNOWNUSER000000000000") == []

    # time: only what happened after a mark, ISO 8601 or epoch ms; `to` is exclusive
    time.sleep(0.01)
    mark = int(time.time() * 1000)
    time.sleep(0.01)
    assert login(api, "late@example.com", "Guess123!").status_code == 401
    after = events(api, admin, type="login_failed", **{"from": str(mark)})
    assert [e["emailHash"] for e in after] == [_hash("late@example.com")]
    iso_mark = datetime.fromtimestamp(mark / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    assert [e["emailHash"] for e in events(api, admin, **{"from": iso_mark})] == [_hash("late@example.com")]
    before = events(api, admin, type="login_failed", to=iso_mark)
    assert len(before) == 10 and _hash("late@example.com") not in {e["emailHash"] for e in before}
    assert events(api, admin, **{"from": str(mark - 10 * DAY_MS), "to": str(mark - 9 * DAY_MS)}) == []

    # bad filters are problems naming the field
    for params, field in (
        ({"type": "nope"}, "type"),
        ({"from": "yesterday"}, "from"),
        ({"from": str(mark), "to": str(mark)}, "from"),
        ({"limit": "0"}, "limit"),
        ({"color": "red"}, "color"),
    ):
        response = get(api, admin, "/v1/security/events", **params)
        assert response.status_code == 422, (params, response.body)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert field in json.dumps(json.loads(response.body)["errors"])
    assert get(api, admin, "/v1/security/events", cursor="forged").status_code == 400
    # every list's range is bounded (an unfiltered one walks a partition per day): sane times, 92 days at most
    assert get(api, admin, "/v1/security/events", **{"from": "0"}).status_code == 422
    to = now_ms() + 1000
    for filters in ({}, {"type": "account_locked"}, {"userId": victim["id"]}):
        too_long = get(api, admin, "/v1/security/events", **filters, **{"from": str(to - 92 * DAY_MS - 1), "to": to})
        assert too_long.status_code == 422 and json.loads(too_long.body)["errors"][0]["field"] == "from", filters
        assert "at most 92 days" in json.loads(too_long.body)["errors"][0]["message"]
        assert events(api, admin, **filters, **{"from": str(to - 92 * DAY_MS), "to": to}), filters
    assert len(events(api, admin, type="account_locked", **{"from": str(to - 92 * DAY_MS), "to": to})) == 1


def test_pagination_walks_every_event_once_for_each_kind_of_query(api: Api, admin: str) -> None:
    victim = attack(api)
    for params in (
        {},
        {"type": "login_failed"},
        {"userId": victim["id"]},
        {"userId": victim["id"], "type": "login_failed"},
    ):
        whole = events(api, admin, **params)
        paged, pages = all_pages(api, admin, 3, **params)
        assert [e["id"] for e in paged] == [e["id"] for e in whole], params
        assert pages == -(-len(whole) // 3), params  # no empty last page


def test_a_cursor_resumes_across_day_partitions(api: Api, admin: str) -> None:
    from gridshare.identity.models import SecurityEventModel

    # Given events written on earlier UTC days, two of them a millisecond either side of midnight
    now = int(time.time() * 1000)
    midnight = now - now % DAY_MS
    seeded = [midnight - 1, midnight - 2, midnight - DAY_MS + 5, midnight - 2 * DAY_MS - 1, midnight + 0]
    for at in seeded:
        event_id = ids.from_parts(at, bytes(range(10)))
        day = datetime.fromtimestamp(at / 1000, tz=UTC).strftime("%Y-%m-%d")
        SecurityEventModel(day=day, id=event_id, type="ip_throttled", at=at, ip="192.0.2.1").save()
    start = str(midnight - 3 * DAY_MS)

    # When an unfiltered list is read two at a time over four day partitions
    whole = events(api, admin, **{"from": start})
    paged, pages = all_pages(api, admin, 2, **{"from": start})

    # Then every event comes once, newest first, and the seeded ones in time order across days
    assert len(whole) > len(seeded) and [e["id"] for e in paged] == [e["id"] for e in whole]
    assert len({e["id"] for e in paged}) == len(paged) and pages == -(-len(whole) // 2)
    seeded_seen = [e for e in paged if e["ip"] == "192.0.2.1"]
    assert [datetime.fromisoformat(e["at"]).timestamp() * 1000 for e in seeded_seen] == sorted(
        (float(at) for at in seeded), reverse=True
    )
    # the default range is the last 7 days: the seeded events are in it too
    assert len(events(api, admin)) == len(whole)
    # and a type-filtered list finds them through the index, paged one at a time
    typed, _ = all_pages(api, admin, 1, type="ip_throttled")
    assert len(typed) == len(seeded)


def test_an_unfiltered_walk_stops_at_the_deadline_and_its_cursor_continues(
    api: Api, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridshare.identity.models import SecurityEventModel
    from gridshare.kernel import clock
    from gridshare.kernel.settings import reset_settings

    # Given events on each of the six days before today
    now = now_ms()
    midnight = now - now % DAY_MS
    for days in range(1, 7):
        at = midnight - days * DAY_MS + 3_600_000
        event_id = ids.from_parts(at, bytes(range(10)))
        day = datetime.fromtimestamp(at / 1000, tz=UTC).strftime("%Y-%m-%d")
        SecurityEventModel(day=day, id=event_id, type="ip_throttled", at=at, ip="192.0.2.7").save()
    start = str(midnight - 6 * DAY_MS)
    whole = events(api, admin, **{"from": start})

    # When each day partition takes a second of the (frozen) clock to read, with a 2.5 s budget
    monkeypatch.setenv("GS_REQUEST_DEADLINE_MS", "2500")
    reset_settings()
    with clock.frozen() as frozen:
        query = SecurityEventModel.query

        def slow_query(*args: Any, **kwargs: Any) -> Any:
            frozen.advance(1)
            return query(*args, **kwargs)

        monkeypatch.setattr(SecurityEventModel, "query", slow_query)
        paged, pages = all_pages(api, admin, 200, **{"from": start})

    # Then a page holds what three days gave, and the cursors walk every event once, newest first
    assert pages == 3 and [e["id"] for e in paged] == [e["id"] for e in whole]
    assert len([e for e in paged if e["ip"] == "192.0.2.7"]) == 6


def test_only_admins_read_security(api: Api, admin: str) -> None:
    user = register_user(api, "plain@example.com", role="consumer")
    for path in ("/v1/security/events", "/v1/security/dashboard", "/v1/security/threats"):
        assert api.call("GET", path, token=user["accessToken"]).status_code == 403, path
        assert api.call("GET", path).status_code == 401, path
        assert api.call("GET", path, token=admin).status_code == 200, path


# ------------------------------------------------------------------ dashboard
def test_dashboard_counts_locks_and_failing_ips(api: Api, admin: str) -> None:
    victim = attack(api)
    response = get(api, admin, "/v1/security/dashboard")
    assert response.status_code == 200, response.body
    board = json.loads(response.body)["data"]

    for period in ("last24h", "last7d"):
        counts = board["counts"][period]
        assert counts["login_failed"] == 10 and counts["account_locked"] == 1
        assert counts["login_succeeded"] >= 2  # the admin and the victim
        assert counts["logout"] == 0
        assert board["totals"][period] == sum(counts.values())
    assert [lock for lock in board["lockedAccounts"] if lock["kind"] == "login"] == [
        {
            "kind": "login",
            "emailHash": _hash("victim@example.com"),
            "userId": victim["id"],
            "lockedUntil": board["lockedAccounts"][0]["lockedUntil"],
        }
    ]
    assert datetime.fromisoformat(board["lockedAccounts"][0]["lockedUntil"]).timestamp() > time.time() + 25 * 60
    [top] = board["topFailingIps"]
    assert top["ip"] == IP and top["failures"] == 10 and top["accounts"] == 6
    assert board["throttledIps"] == [] and board["truncated"] is False


def test_dashboard_lists_a_throttled_ip(api: Api, admin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.kernel.settings import reset_settings

    monkeypatch.setenv("GS_IP_FAILURE_LIMIT", "3")
    reset_settings()
    for n in range(3):
        assert login(api, f"spray{n}@example.com", "Guess123!").status_code == 401
    assert login(api, "spray9@example.com", "Guess123!").status_code == 429
    board = json.loads(get(api, admin, "/v1/security/dashboard").body)["data"]
    assert [t["ip"] for t in board["throttledIps"]] == [IP]
    assert board["counts"]["last24h"]["ip_throttled"] == 1


# ------------------------------------------------------------------ threats
def threats(api: Api, token: str, **params: Any) -> dict[str, Any]:
    response = get(api, token, "/v1/security/threats", **params)
    assert response.status_code == 200, response.body
    return dict(json.loads(response.body))


def test_threats_show_brute_force_and_credential_stuffing(api: Api, admin: str) -> None:
    victim = attack(api)
    body = threats(api, admin)
    by_kind = {(t["type"], t["subject"]["id"]): t for t in body["data"]}

    brute = by_kind[("brute_force", _hash("victim@example.com"))]
    assert brute["severity"] == "high" and brute["subject"] == {
        "kind": "account",
        "id": _hash("victim@example.com"),
        "userId": victim["id"],
    }
    assert brute["count"] == 5 and brute["counts"]["lockouts"] == 1 and brute["ips"] == [IP]
    assert brute["firstSeen"] <= brute["lastSeen"]

    stuffing = by_kind[("credential_stuffing", IP)]
    assert stuffing["subject"]["kind"] == "ip" and stuffing["count"] == 6
    assert stuffing["counts"]["unknownAccounts"] == 5 and stuffing["counts"]["failures"] == 10
    # one failure on an unknown email is no brute force
    assert ("brute_force", _hash("nobody0@example.com")) not in by_kind
    assert body["meta"]["windowMinutes"] == 60 and body["meta"]["thresholds"] == {
        "bruteForce": 5,
        "credentialStuffing": 5,
    }
    # a one-minute window still holds them all (the test is fast); bad parameters are problems
    assert threats(api, admin, windowMinutes=1)["data"]
    assert get(api, admin, "/v1/security/threats", windowMinutes=0).status_code == 422


def test_a_quiet_log_has_no_threats(api: Api, admin: str) -> None:
    register_user(api, "calm@example.com")
    assert login(api, "calm@example.com", "wrong-once").status_code == 401
    assert threats(api, admin)["data"] == []


def _log_out_and_reuse(api: Api) -> tuple[dict[str, Any], str]:
    session = register_user(api, "leaky@example.com")
    token = session["accessToken"]
    assert api.call("GET", "/v1/me", token=token).status_code == 200
    assert api.call("POST", "/v1/auth/logout", token=token, headers=UA).status_code == 204
    assert api.call("GET", "/v1/me", token=token, headers=UA).status_code == 401
    return session["user"], token


def test_a_token_used_after_logout_is_refused_and_logged(api: Api, admin: str) -> None:
    user, _ = _log_out_and_reuse(api)
    [logout] = events(api, admin, type="logout")
    assert logout["userId"] == user["id"] and logout["userAgent"] == UA["User-Agent"]
    refused = events(api, admin, type="token_refused")
    assert len(refused) == 1
    assert refused[0]["detail"]["reason"] == "The token has been revoked."
    assert refused[0]["detail"]["path"] == "/v1/me" and refused[0]["ip"] == IP
    assert refused[0]["id"] > logout["id"]


def test_threats_show_token_reuse_after_logout(api: Api, admin: str) -> None:
    user, _ = _log_out_and_reuse(api)
    reuse = [t for t in threats(api, admin)["data"] if t["type"] == "token_reuse_after_logout"]
    assert len(reuse) == 1
    assert reuse[0]["subject"] == {"kind": "user", "id": user["id"], "userId": user["id"]}
    assert reuse[0]["count"] == 1 and reuse[0]["severity"] == "medium"  # reused from where it logged out
