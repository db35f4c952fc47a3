"""The authorization matrix, generated from the route table (gridshare.http.api.ROUTES).

Every deployed route x {anonymous, every role} x {owner, other user}, through the whole API (Chalice's
test client runs our route guard) against moto. Public routes run once, anonymously. For each role there
are two users: the "owner", who owns one object of each kind (a device with a reading, their user record),
and the "other", who calls the same routes on the owner's objects. What each case may get is derived from
the route's declared roles and from OBJECT_FAMILIES (which object fills a path parameter, and which roles
the service lets see every user's objects): anonymous -> 401, a role the route does not admit -> 403, an
admitted role on another user's object -> 404 unless the family lets that role see all, else a 2xx. The test
fails on any 2xx where the caller is not authorized, on a refusal of an authorized caller, on a 5xx, and
when a 2xx body carries another user's private ids (device ids, thing names, user ids, emails) that the
caller's role may not see.

A route with a path parameter and no family, or a body or query this file cannot build, fails the test:
new routes must be added here (the table), never skipped. Routes that change state other cases depend
on run in later phases (2FA set-up -> enable -> disable, then logout), so every case sees a valid token.
"""

from __future__ import annotations

import json
import re
import time
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tests.support import alerts, grid
from tests.support.api import Api, create_admin, register_user
from tests.support.communities import SIMULATED_MEMBER, add_simulated_member, create_community, first_member
from tests.support.devices import ingest

PASSWORD = "Matrix-Passw0rd!"
ADMIN_PASSWORD = "Matrix-Adm1n-Passw0rd"
SUBJECTS = ("owner", "other")
# The thing name of no registered device: its messages are dead-lettered, replays fail again (422).
UNKNOWN_THING = "gs-authorization-matrix-unknown"


# ------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Family:
    """Routes under `prefix` act on one object kind, which fills every path parameter of the prefix."""

    prefix: str
    kind: str  # "device" | "user" | "bystander" | "dead_letter" | "absent" | "site" | "community" | "grid_*"
    owned: bool  # the object belongs to a user: another user's answers 404
    sees_all: frozenset[str] = frozenset()  # roles the service lets act on every user's objects
    methods: frozenset[str] | None = None  # only these methods (a family for the same prefix serves the rest)


OBJECT_FAMILIES: tuple[Family, ...] = (
    # DeviceService.get_owned: admins and operators see every device (grid operations)
    Family("/v1/devices/{id}", "device", owned=True, sees_all=frozenset({"admin", "operator"})),
    # HealthService.update: only the owner or an admin changes a device (operators read every device)
    Family("/v1/devices/{id}", "device", owned=True, sees_all=frozenset({"admin"}), methods=frozenset({"PATCH"})),
    # a command of the owner's device (CommandService checks the device as get_owned does)
    Family("/v1/devices/{id}/commands/{commandId}", "command", owned=True, sees_all=frozenset({"admin", "operator"})),
    # the owner device's provisioning certificate (revoking it again changes nothing: every case answers 204)
    Family(
        "/v1/devices/{id}/certificates/{certificateId}",
        "certificate",
        owned=True,
        sees_all=frozenset({"admin", "operator"}),
    ),
    Family("/v1/users/{id}", "user", owned=True, sees_all=frozenset({"admin"})),
    # admin actions that revoke the target's tokens act on a bystander, so the members' tokens stay valid
    Family("/v1/users/{id}/2fa", "bystander", owned=True, sees_all=frozenset({"admin"})),
    # dead letters belong to the platform, not to a user (the routes admit admins only)
    Family("/v1/telemetry/dead-letters/{id}", "dead_letter", owned=False),
    # platform objects behind admin-only routes: an id that does not exist (the role check comes first)
    Family("/v1/admin/withdrawals/{id}", "absent", owned=False),
    # SitesService: admins and operators read every site; the routes that change one admit hosts and admins
    Family("/v1/sites/{id}", "site", owned=True, sees_all=frozenset({"admin", "operator"})),
    # the owner's site and the owner's device (attaching needs both to be the caller's, or an admin)
    Family("/v1/sites/{id}/devices/{deviceId}", "site_device", owned=True, sees_all=frozenset({"admin", "operator"})),
    # investors buy into other users' sites: any site will do
    Family("/v1/sites/{id}/investments", "site", owned=False),
    # CommunitiesService: the referent (the owner here), members, admins and operators read; the referent
    # and admins change (the routes that change one admit prosumers and admins)
    Family("/v1/communities/{id}", "community", owned=True, sees_all=frozenset({"admin", "operator"})),
    # a (simulated) member of the owner's community
    Family(
        "/v1/communities/{id}/members/{memberId}",
        "community_member",
        owned=True,
        sees_all=frozenset({"admin", "operator"}),
    ),
    # the grid belongs to the platform (operators and admins manage it): a node, a connection made per case
    Family("/v1/grid/nodes/{id}", "grid_node", owned=False),
    Family("/v1/grid/connections/{id}", "grid_connection", owned=False),
    # MarketService: a user's own orders; admins see and cancel every one
    Family("/v1/market/orders/{id}", "market_order", owned=True, sees_all=frozenset({"admin"})),
    # delivery intervals are the market's, not a user's: one whose gate has closed
    Family("/v1/market/intervals/{interval}", "market_interval", owned=False),
    # a user's own push tokens and inbox entries: nobody else's, whatever the role (made per case)
    Family("/v1/me/push-tokens/{id}", "push_token", owned=True),
    Family("/v1/notifications/{id}", "notification", owned=True),
    # alert rules and alerts (gridshare.alerts): admins and operators read all, only owners and admins change
    # a rule; an alert is acknowledged or resolved by its owner, an admin or an operator
    Family("/v1/alert-rules/{id}", "alert_rule", owned=True, sees_all=frozenset({"admin", "operator"})),
    Family(
        "/v1/alert-rules/{id}",
        "alert_rule",
        owned=True,
        sees_all=frozenset({"admin"}),
        methods=frozenset({"PATCH", "DELETE"}),
    ),
    Family("/v1/alerts/{id}", "alert", owned=True, sees_all=frozenset({"admin", "operator"})),
    # settlement runs are the platform's (admins and operators read them): a run that does not exist
    Family("/v1/settlements/{id}", "absent", owned=False),
)

# Bodies: a minimal valid body is generated from the route's pydantic model (required fields only); list a
# route here when that body cannot succeed for an authorized caller, or would break later cases. A callable
# gets the calling member (None when anonymous).
SAMPLE_BODIES: dict[tuple[str, str], dict[str, Any] | Callable[[Member | None], dict[str, Any]]] = {
    ("POST", "/v1/devices/{id}/commands"): {"name": "reset_counters"},  # every member's device is a meter
    ("PUT", "/v1/devices/{id}/config"): {"reportIntervalS": 60, "calibration": {"power_w": {"offset": 1}}},
}
# Queries: the route's query model must accept {} or have an entry here.
SAMPLE_QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/v1/devices/{id}/readings"): {"metric": "power_w"},
    ("GET", "/v1/grid/history"): {"metric": "generation"},
}
# Market: a delivery interval whose gate has closed (clearing it, as an admin may, clears an empty book).
PAST_INTERVAL = (int(time.time() * 1000) // 900_000 - 4) * 900_000


def _market_interval(ms: int) -> str:
    from gridshare.market.rules import interval_iso

    return interval_iso(ms)


def _open_interval() -> int:
    """The first interval starting 10 minutes or more from now: its gate is open for the whole test."""
    return -(-(int(time.time() * 1000) + 600_000) // 900_000) * 900_000


SAMPLE_QUERIES[("GET", "/v1/market/book")] = {"interval": _market_interval(_open_interval())}
SAMPLE_BODIES[("POST", "/v1/settlements")] = {
    "from": _market_interval(PAST_INTERVAL),
    "to": _market_interval(PAST_INTERVAL + 900_000),
}
# What an authorized caller gets when it is not a 2xx, and why.
ALLOWED_STATUS: dict[tuple[str, str], set[int]] = {
    # the dead letter names a thing nobody registered, so a replay is refused as still invalid
    ("POST", "/v1/telemetry/dead-letters/{id}/replay"): {422},
    # money routes: authorized callers get business answers here, not 2xx (authorization is what is tested)
    ("POST", "/v1/wallet/topups"): {503},  # no Stripe in this test: the gateway is unavailable
    ("POST", "/v1/wallet/withdrawals"): {409},  # empty wallets: insufficient funds
    ("POST", "/v1/admin/refunds"): {404},  # no such top-up
    ("POST", "/v1/admin/sales"): {422},  # sample parties do not exist
    ("POST", "/v1/admin/withdrawals/{id}/approve"): {404},
    ("POST", "/v1/admin/withdrawals/{id}/reject"): {404},
    ("POST", "/v1/sites/{id}/investments"): {409},  # empty wallets: insufficient funds
    ("GET", "/v1/settlements/{id}"): {404},
}
# Routes that act on an object made for each case, owned by the case's owner (deletions: every case needs
# one to delete). The callable gets that owner and returns the id that fills the path parameter (or each
# path parameter's value, by name).
FRESH_OBJECTS: dict[tuple[str, str], Callable[[Member], str | dict[str, str]]] = {}
# Later phases run after every earlier case: state they change would break other cases.
PHASES: dict[tuple[str, str], int] = {
    ("POST", "/v1/auth/2fa/setup"): 1,
    ("POST", "/v1/auth/2fa/verify"): 2,
    ("DELETE", "/v1/auth/2fa"): 3,
    ("POST", "/v1/auth/logout"): 9,  # revokes the caller's tokens: last
}
# Which private values of a user a caller of another role may see in a response body.
VISIBLE_TO: dict[str, frozenset[str]] = {
    "user_id": frozenset({"admin", "operator"}),  # operators see device owners (ownerId)
    "email": frozenset({"admin"}),
    "device_id": frozenset({"admin", "operator"}),
    "thing_name": frozenset({"admin", "operator"}),
    "command_id": frozenset({"admin", "operator"}),
}


# --------------------------------------------------------------------------------------- members
@dataclass
class Member:
    role: str
    subject: str
    email: str
    user_id: str = ""
    token: str = ""
    device_id: str = ""
    thing_name: str = ""
    command_id: str = ""
    certificate_id: str = ""
    site_id: str = ""
    community_id: str = ""
    community_member_id: str = ""
    market_order_id: str = ""
    alert_id: str = ""

    def private(self) -> dict[str, str]:
        return {
            "user_id": self.user_id,
            "email": self.email,
            "device_id": self.device_id,
            "thing_name": self.thing_name,
            "command_id": self.command_id,
        }


def _data(response: Any) -> Any:
    return json.loads(response.body)["data"]


def _login(api: Api, email: str, password: str) -> str:
    response = api.call("POST", "/v1/auth/login", {"email": email, "password": password})
    assert response.status_code == 200, response.body
    return str(_data(response)["accessToken"])


def _provision_device(api: Api, member: Member) -> None:
    response = api.call("POST", "/v1/devices", {"name": f"{member.role} meter", "type": "meter"}, token=member.token)
    assert response.status_code == 201, response.body
    device = _data(response)
    member.device_id, member.thing_name = device["id"], device["thingName"]
    member.certificate_id = device["certificateId"]
    sent = api.call("POST", f"/v1/devices/{member.device_id}/commands", {"name": "reset_counters"}, token=member.token)
    assert sent.status_code == 202, sent.body
    member.command_id = _data(sent)["id"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _set_up_members(api: Api, roles: tuple[str, ...]) -> dict[tuple[str, str], Member]:
    """Two users per role, each with a device that has reported one reading.

    Admins are made as the CLI makes them; registrable roles register; any other role (operator, viewer)
    registers as a prosumer, provisions its device, is promoted by an admin, and logs in again (a role
    change revokes the old tokens).
    """
    from gridshare.identity.requests import RegisterBody

    registrable = set(typing.get_args(RegisterBody.model_fields["role"].annotation))  # never admin or operator
    assert "prosumer" in registrable and not registrable & {"admin", "operator"}
    members: dict[tuple[str, str], Member] = {}
    for role in roles:
        for subject in SUBJECTS:
            members[(role, subject)] = Member(role, subject, f"{subject}.{role}.matrix@example.com")
    admins = [m for m in members.values() if m.role == "admin"]
    assert admins, "the matrix needs the admin role to promote users"
    for member in admins:
        create_admin(member.email, ADMIN_PASSWORD)
        member.token = _login(api, member.email, ADMIN_PASSWORD)
    promoter = admins[0]
    for member in members.values():
        if member.role == "admin":
            continue
        member.token = register_user(
            api, member.email, member.role if member.role in registrable else "prosumer", PASSWORD
        )["accessToken"]
    for member in members.values():
        member.user_id = str(_data(api.call("GET", "/v1/me", token=member.token))["id"])
        _provision_device(api, member)
        assert ingest(member.thing_name, json.dumps({"ts": _now_ms(), "seq": 1, "metrics": {"power_w": 100.0}})) == {
            "batchItemFailures": []
        }
    for member in members.values():
        if member.role not in registrable | {"admin"}:
            response = api.call("PATCH", f"/v1/users/{member.user_id}", {"role": member.role}, token=promoter.token)
            assert response.status_code == 200, response.body
            member.token = _login(api, member.email, PASSWORD)
    for member in members.values():
        me = _data(api.call("GET", "/v1/me", token=member.token))
        assert (me["id"], me["role"]) == (member.user_id, member.role), me
    return members


def _create_site(member: Member) -> str:
    """A site owned by the member, whatever its role (made through the service: the matrix tests access to
    a site, not who may create one)."""
    from gridshare.kernel.roles import Caller
    from gridshare.sites.service import sites_service

    caller = Caller(member.user_id, member.user_id, member.role, (member.role,), 0, "matrix")
    fields = {
        "name": f"{member.subject} {member.role} site",
        "kind": "solar",
        "capacity_kw": 5,
        "panels": None,
        "location": {"lat": 48.1, "lon": 11.6},
        "timezone": "Europe/Berlin",
        "tariff": {"currency": "EUR", "retailMinorPerKwh": 30, "feedInMinorPerKwh": 8},
    }
    return str(sites_service().create(caller, fields)["id"])


FRESH_OBJECTS[("DELETE", "/v1/sites/{id}")] = _create_site


def _create_device(member: Member) -> str:
    """A device of the member's to decommission (made through the service, whatever the member's role)."""
    from gridshare.devices.service import device_service
    from gridshare.kernel.roles import Caller

    caller = Caller(member.user_id, member.user_id, member.role, (member.role,), 0, "matrix")
    return str(device_service().provision(caller, f"{member.subject} {member.role} spare", "meter", None)["id"])


FRESH_OBJECTS[("DELETE", "/v1/devices/{id}")] = _create_device


def _create_push_token(member: Member) -> str:
    from gridshare.notifications.service import notifications_service

    token = f"matrix-fresh-{uuid.uuid4().hex}"
    return str(notifications_service().register_push_token(member.user_id, "fcm", token)["id"])


def _create_notification(member: Member) -> str:
    """An inbox entry of the member's, as the notifier writes one for an alert event."""
    from gridshare.notifications.notifier import Notifier, parse_alert_event
    from gridshare.notifications.store import inbox_id
    from tests.support.notifications import NoDeliveries, alert_detail

    detail = alert_detail(member.user_id, channels=())
    Notifier(queue=NoDeliveries()).fan_out(parse_alert_event("AlertOpened", detail))
    return inbox_id(detail["alert"]["id"], detail["occurrence"])


FRESH_OBJECTS[("DELETE", "/v1/me/push-tokens/{id}")] = _create_push_token
FRESH_OBJECTS[("POST", "/v1/notifications/{id}/read")] = _create_notification

for _method in ("GET", "PUT", "DELETE"):  # the grid's objects are the platform's: any node will do
    FRESH_OBJECTS[(_method, "/v1/grid/nodes/{id}")] = grid.grid_node
FRESH_OBJECTS[("DELETE", "/v1/grid/connections/{id}")] = grid.grid_connection


def _create_community(member: Member) -> str:
    """A community the member runs (its referent), whatever its role, with one simulated member."""
    return create_community(member.user_id, member.role, f"{member.subject} {member.role} community")


def _set_up_community(member: Member) -> None:
    member.community_id = _create_community(member)
    member.community_member_id = first_member(member.user_id, member.role, member.community_id)


def _fresh_community_member(member: Member) -> dict[str, str]:
    made = add_simulated_member(member.user_id, member.role, member.community_id)
    return {"id": member.community_id, "memberId": made}


def _create_order(member: Member) -> str:
    """An open ASK of the member's from their site (made through the service, whatever the member's role)."""
    from gridshare.http.idempotency import RequestIds
    from gridshare.kernel.roles import Caller
    from gridshare.market.service import market_service

    caller = Caller(member.user_id, member.user_id, member.role, (member.role,), 0, "matrix")
    fields = {
        "side": "ASK",
        "interval": _market_interval(_open_interval()),
        "energy_wh": 100,
        "limit_price_minor_per_kwh": 10,
        "currency": None,
        "site_id": member.site_id,
        "community_id": None,
    }
    return str(market_service().orders.place(caller, fields, RequestIds())["id"])


def _ask_body(member: Member | None) -> dict[str, Any]:
    body = {"side": "ASK", "interval": _market_interval(_open_interval()), "energyWh": 100}
    return {**body, "limitPriceMinorPerKwh": 10, **({"siteId": member.site_id} if member else {})}


FRESH_OBJECTS[("DELETE", "/v1/market/orders/{id}")] = _create_order
FRESH_OBJECTS[("DELETE", "/v1/communities/{id}")] = _create_community
FRESH_OBJECTS[("DELETE", "/v1/alert-rules/{id}")] = lambda m: alerts.create_rule(m.user_id, m.role, m.device_id)
for _path in ("/v1/alerts/{id}/acknowledge", "/v1/alerts/{id}/resolve"):  # each case needs an open alert
    FRESH_OBJECTS[("POST", _path)] = lambda m: alerts.open_alert(m.user_id, m.role, m.device_id)
FRESH_OBJECTS[("DELETE", "/v1/communities/{id}/members/{memberId}")] = _fresh_community_member


def _dead_letter_id() -> str:
    from gridshare.telemetry.models import DeadLetterModel

    assert ingest(UNKNOWN_THING, json.dumps({"ts": _now_ms(), "seq": 1, "metrics": {"power_w": 1.0}})) == {
        "batchItemFailures": []
    }
    letters = [letter for letter in DeadLetterModel.scan() if letter.thing_name == UNKNOWN_THING]
    assert len(letters) == 1
    return str(letters[0].id)


# ------------------------------------------------------------------------------------ the bodies
def _totp_enable_body(member: Member | None) -> dict[str, Any]:
    """A real code of the pending secret from /v1/auth/2fa/setup (the set-up phase ran before)."""
    from gridshare.identity import totp
    from tests.support.identity_secrets import stored_totp_secret

    if member is None:
        return {"code": "000000"}
    secret = stored_totp_secret(member.user_id, pending=True)
    return {"code": totp.code_at(secret, totp.current_step(time.time())) if secret else "000000"}


def _totp_disable_body(member: Member | None) -> dict[str, Any]:
    """A real code of the enabled secret, for a step after the one enabling used (a code works once)."""
    from gridshare.identity import totp
    from gridshare.identity.models import UserModel
    from tests.support.identity_secrets import stored_totp_secret

    if member is None:
        return {"code": "000000"}
    user = UserModel.get(member.user_id)
    secret = stored_totp_secret(member.user_id)
    if not secret:
        return {"code": "000000"}
    now = totp.current_step(time.time())
    step = max(int(user.totp_last_step) + 1, now) if user.totp_last_step is not None else now
    return {"code": totp.code_at(secret, step)}


SAMPLE_BODIES.update(
    {
        ("POST", "/v1/auth/2fa/verify"): _totp_enable_body,
        ("DELETE", "/v1/auth/2fa"): _totp_disable_body,
        # a no-op for an active user: the route runs, and nobody is disabled or demoted
        ("PATCH", "/v1/users/{id}"): {"status": "active"},
        ("PATCH", "/v1/me"): {"name": "Matrix Tester"},
        # one token per user: SNS refuses a token registered to another user (409)
        ("POST", "/v1/me/push-tokens"): lambda m: {"platform": "fcm", "token": f"matrix-{m.user_id if m else 'anon'}"},
        ("POST", "/v1/communities/{id}/members"): SIMULATED_MEMBER,
        ("POST", "/v1/grid/nodes"): grid.NODE_BODY,
        ("POST", "/v1/market/orders"): _ask_body,
        ("PUT", "/v1/grid/nodes/{id}"): grid.NODE_BODY,
        ("POST", "/v1/grid/connections"): grid.connection_body,
        ("POST", "/v1/alert-rules"): lambda m: {"name": "m", "deviceId": m.device_id if m else "x", "kind": "offline"},
        ("POST", "/v1/sites"): {
            "name": "Matrix site",
            "kind": "solar",
            "capacityKw": 5,
            "location": {"lat": 48.1, "lon": 11.6},
            "timezone": "Europe/Berlin",
            "tariff": {"currency": "EUR", "retailMinorPerKwh": 30, "feedInMinorPerKwh": 8},
        },
    }
)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _resolve(root["$defs"][name], root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _resolve(options[0], root)
    return schema


def _example(schema: dict[str, Any], root: dict[str, Any], name: str) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "email":
            return f"matrix-{uuid.uuid4().hex[:12]}@example.com"
        if schema.get("format") == "uri":
            return "https://example.com/x"
        if schema.get("pattern") == "^[0-9]{6}$":
            return "000000"
        if "pattern" in schema:
            raise AssertionError(f"cannot build a value of '{name}' matching {schema['pattern']}: add a sample body")
        return "x" * max(int(schema.get("minLength", 1)), 1)
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return _minimal(schema, root)
    raise AssertionError(f"cannot build a value for field '{name}' ({schema}): add a sample body")


def _minimal(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    return {name: _example(properties[name], root, name) for name in schema.get("required", [])}


def minimal_body(model: type[BaseModel]) -> dict[str, Any]:
    """The required fields of the model, each with the simplest value its JSON schema admits."""
    schema = model.model_json_schema(by_alias=True)
    return _minimal(schema, schema)


# ------------------------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class Case:
    method: str
    path: str
    role: str | None  # None: anonymous
    subject: str | None  # None: anonymous (no token, so no owner or other)
    expected: str  # public | unauthenticated | forbidden | not_found | allowed
    phase: int
    family: Family | None
    spec: Any = field(compare=False)


def deployed_routes() -> list[Any]:
    from gridshare.app_factory import make_app
    from gridshare.http.api import ROUTES

    make_app("authorization-matrix")
    seen: dict[tuple[str, str], Any] = {}
    for spec in ROUTES:
        if not spec.local_only:
            seen[(spec.method.upper(), spec.path)] = spec
    return list(seen.values())


def family_of(path: str, method: str = "GET") -> Family | None:
    """The family whose prefix covers every path parameter; a route with parameters and none fails."""
    params = re.findall(r"\{(\w+)\}", path)
    if not params:
        return None
    matches = [f for f in OBJECT_FAMILIES if path == f.prefix or path.startswith(f.prefix + "/")]
    specific = [f for f in matches if f.methods is not None and method in f.methods]
    matches = specific or [f for f in matches if f.methods is None]
    if not matches:
        raise AssertionError(f"{path}: no OBJECT_FAMILIES entry says which object fills {params}; add one")
    family = max(matches, key=lambda f: len(f.prefix))
    missing = set(params) - set(re.findall(r"\{(\w+)\}", family.prefix))
    if missing:
        raise AssertionError(f"{path}: family {family.prefix} does not fill {sorted(missing)}; add a family")
    return family


def expectation(spec: Any, role: str | None, subject: str | None, family: Family | None) -> str:
    if spec.roles is None:
        return "public"
    if role is None:
        return "unauthenticated"
    if role not in spec.roles:
        return "forbidden"
    if family is not None and family.owned and subject == "other" and role not in family.sees_all:
        return "not_found"
    return "allowed"


def build_cases(roles: tuple[str, ...]) -> list[Case]:
    cases = []
    for spec in deployed_routes():
        method = spec.method.upper()
        family = family_of(spec.path, method)
        phase = PHASES.get((method, spec.path), 0)
        callers: list[tuple[str | None, str | None]] = [(None, None)]
        if spec.roles is not None:
            callers += [(role, subject) for role in roles for subject in SUBJECTS]
        for role, subject in callers:
            expected = expectation(spec, role, subject, family)
            cases.append(Case(method, spec.path, role, subject, expected, phase, family, spec))
    return sorted(cases, key=lambda c: c.phase)  # stable: route-table order within a phase


def request_body(case: Case, caller: Member | None) -> dict[str, Any] | None:
    if case.spec.body is None:
        return None
    sample = SAMPLE_BODIES.get((case.method, case.path))
    body = sample(caller) if callable(sample) else sample if sample is not None else minimal_body(case.spec.body)
    try:
        case.spec.body.model_validate(body)
    except ValidationError as exc:
        raise AssertionError(f"{case.method} {case.path}: the sample body is not valid: {exc}") from None
    return body


def query_string(case: Case) -> str:
    if case.spec.query is None:
        return ""
    query = SAMPLE_QUERIES.get((case.method, case.path), {})
    try:
        case.spec.query.model_validate(query)
    except ValidationError as exc:
        raise AssertionError(f"{case.method} {case.path}: add a SAMPLE_QUERIES entry: {exc}") from None
    return "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""


def concrete_path(case: Case, owner: Member, dead_letter: str, bystander: str) -> str:
    if case.family is None:
        return case.path
    fresh = FRESH_OBJECTS.get((case.method, case.path))
    if fresh is not None:
        made = fresh(owner)
        if isinstance(made, dict):
            return re.sub(r"\{(\w+)\}", lambda m: made[m.group(1)], case.path)
        return re.sub(r"\{\w+\}", made, case.path, count=1)
    if case.family.kind == "site_device":
        return case.path.replace("{id}", owner.site_id).replace("{deviceId}", owner.device_id)
    if case.family.kind == "community_member":
        return case.path.replace("{id}", owner.community_id).replace("{memberId}", owner.community_member_id)
    value = {
        "device": owner.device_id,
        "user": owner.user_id,
        "dead_letter": dead_letter,
        "bystander": bystander,
        "absent": "01J00000000000000000000000",
        "command": owner.device_id,
        "certificate": owner.device_id,
        "site": owner.site_id,
        "community": owner.community_id,
        "market_order": owner.market_order_id,
        "market_interval": _market_interval(PAST_INTERVAL),
        "alert_rule": f"offline-{owner.device_id}",  # the meter's default offline rule
        "alert": owner.alert_id,
    }[case.family.kind]
    path = re.sub(r"\{\w+\}", value, case.path, count=1)
    return path.replace("{commandId}", owner.command_id).replace("{certificateId}", owner.certificate_id)


def status_ok(case: Case, status: int) -> bool:
    if case.expected == "public":
        return status < 500
    if case.expected == "unauthenticated":
        return status == 401
    if case.expected == "forbidden":
        return status == 403
    if case.expected == "not_found":
        return status == 404
    return 200 <= status < 300 or status in ALLOWED_STATUS.get((case.method, case.path), set())


def leaks(body: str, caller: Member | None, members: dict[tuple[str, str], Member]) -> list[str]:
    """Private values of other users a 2xx body shows to a caller whose role may not see them."""
    found = []
    for member in members.values():
        if caller is not None and member is caller:
            continue
        for kind, value in member.private().items():
            if value and value in body and (caller is None or caller.role not in VISIBLE_TO[kind]):
                found.append(f"{member.subject} {member.role}'s {kind}")
    return found


# ------------------------------------------------------------------------------------- the test
@pytest.mark.heavy
def test_authorization_matrix(
    api: Api, capsys: pytest.CaptureFixture[str], record_property: Callable[[str, object], None]
) -> None:
    from gridshare.kernel.roles import ROLE_ORDER

    started = time.monotonic()
    roles = tuple(ROLE_ORDER)
    cases = build_cases(roles)  # fails first if a route cannot be mapped
    members = _set_up_members(api, roles)
    for member in members.values():
        member.site_id = _create_site(member)
        _set_up_community(member)
        member.market_order_id = _create_order(member)
        member.alert_id = alerts.open_alert(member.user_id, member.role, member.device_id)
    dead_letter = _dead_letter_id()
    bystander = register_user(api, "bystander@example.com")["user"]["id"]
    default_owner = members[(roles[-1], "owner")]

    unauthorized_2xx: list[str] = []
    unexpected: list[str] = []
    leaked: list[str] = []
    for case in cases:
        caller = members[(case.role, case.subject)] if case.role and case.subject else None
        owner = members[(case.role, "owner")] if case.role else default_owner
        path = concrete_path(case, owner, dead_letter, bystander) + query_string(case)
        response = api.call(case.method, path, request_body(case, caller), token=caller.token if caller else None)
        status = response.status_code
        label = f"{case.method} {case.path} as {case.role or 'anonymous'}/{case.subject or '-'}: {status}"
        if 200 <= status < 300 and case.expected in ("unauthenticated", "forbidden", "not_found"):
            unauthorized_2xx.append(f"{label} (expected {case.expected}) {response.body[:200]!r}")
        elif not status_ok(case, status):
            unexpected.append(f"{label} (expected {case.expected}) {response.body[:300]!r}")
        if 200 <= status < 300 and response.body:
            text = response.body.decode() if isinstance(response.body, bytes) else str(response.body)
            shown = leaks(text, caller, members)
            if shown:
                leaked.append(f"{label} shows {', '.join(shown)}")

    elapsed = time.monotonic() - started
    by_expectation: dict[str, int] = {}
    for case in cases:
        by_expectation[case.expected] = by_expectation.get(case.expected, 0) + 1
    routes = {(c.method, c.path) for c in cases}
    summary = f"authorization matrix: {len(cases)} cases, {len(unauthorized_2xx)} unauthorized 2xx"
    detail = (
        f"{len(routes)} routes x {{anonymous, {', '.join(roles)}}} x {{owner, other}}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_expectation.items()))
        + f"; {len(unexpected)} unexpected statuses, {len(leaked)} leaks; {elapsed:.1f} s"
    )
    record_property("authorization_matrix_cases", len(cases))
    record_property("authorization_matrix_unauthorized_2xx", len(unauthorized_2xx))
    with capsys.disabled():
        print(f"\n{summary}\n  {detail}")
    assert not unauthorized_2xx, "\n".join(unauthorized_2xx)
    assert not leaked, "\n".join(leaked)
    assert not unexpected, "\n".join(unexpected)
