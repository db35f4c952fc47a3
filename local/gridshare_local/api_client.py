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
