"""A user of the local stack's API, as an app would be: register, verify from the outbox, log in."""

from __future__ import annotations

from typing import Any

import requests


def verified_session(
    api: str, email: str, password: str, name: str, role: str = "prosumer"
) -> tuple[requests.Session, str]:
    """A requests session carrying the bearer token of a new, verified user; returns (session, code used)."""
    session = requests.Session()
    session.post(
        f"{api}/v1/auth/register", json={"email": email, "password": password, "name": name, "role": role}, timeout=30
    ).raise_for_status()
    code: str = session.get(f"{api}/_local/outbox", params={"to": email}, timeout=30).json()["data"][-1]["code"]
    session.post(f"{api}/v1/auth/verify-email", json={"email": email, "code": code}, timeout=30).raise_for_status()
    login: dict[str, Any] = session.post(
        f"{api}/v1/auth/login", json={"email": email, "password": password}, timeout=30
    ).json()
    session.headers["Authorization"] = f"Bearer {login['data']['accessToken']}"
    return session, code


def problem_text(response: requests.Response) -> str:
    """What an API error answer says, in one line: the problem's detail and its field errors (RFC 9457)."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = str(problem.get("detail") or problem.get("title") or response.reason or "no detail")
    fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors") or [])
    return f"{detail.rstrip('.')} ({fields})" if fields else detail.rstrip(".")


def expect(response: requests.Response, what: str, *, exit_code: int | None = None) -> dict[str, Any]:
    """The JSON of a 2xx answer; any other answer is a CliError: `<what>: <problem> (HTTP <status>)`."""
    from gridshare_local.cli_errors import EXIT_FAILED, CliError

    if response.ok:
        return dict(response.json()) if response.content else {}
    raise CliError(f"{what}: {problem_text(response)} (HTTP {response.status_code})", exit_code or EXIT_FAILED)
