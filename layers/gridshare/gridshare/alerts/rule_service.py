"""Alert rule use cases: create, list, read, change, delete, and send a test notification.

A rule names one device the caller may see (the devices service: another user's device is 404) or one
site (the sites service, likewise); the rule belongs to that device's or site's owner. What each kind
needs: gridshare.alerts.rules. Default rules (a critical `leak` rule per gas sensor, a warning `offline`
rule per device) have deterministic ids and are materialised by conditional puts (decision 0017): by the
evaluator when it first sees a device, and here when an owner lists rules (the first page: their first 200
devices, each once per container) or lists/reads one device's rules. They are editable; the leak rule cannot be deleted
(409); a deleted offline rule stays as a tombstone so it is not materialised again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gridshare.alerts import alert_events as E
from gridshare.alerts.lifecycle import materialise_defaults
from gridshare.alerts.models import AlertModel, AlertRuleModel
from gridshare.alerts.rules import BASELINE_KINDS, Target, validate_rule
from gridshare.alerts.store import RuleStore
from gridshare.alerts.views import alert_view, describe, rule_view
from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.kernel.roles import Caller

if TYPE_CHECKING:
    from gridshare.devices.service import DeviceService


# The devices context's service is imported when a rule request first needs it: listing or reading alerts
# does not load it (nor what it imports) on a cold start.
def _devices() -> type[DeviceService]:
    from gridshare.devices.service import DeviceService

    return DeviceService


def reported_metrics() -> dict[str, tuple[str, ...]]:
    """The metrics devices report (gridshare.devices.service.reported_metrics)."""
    from gridshare.devices.service import reported_metrics as metrics

    return metrics()


__all__ = ["RuleService", "rule_service"]

SEES_ALL = ("admin", "operator")
MATERIALISE_DEVICES = 200  # devices whose defaults a listing materialises (one page of the devices service)


def _sites() -> Any:
    from gridshare.sites.service import sites_service

    return sites_service()


@dataclass
class RuleService:
    store: RuleStore = field(default_factory=RuleStore)
    publisher: E.AlertPublisher = field(default_factory=E.EventBridgeAlertPublisher)
    clock: Callable[[], int] = now_ms
    _materialised: set[str] = field(default_factory=set)  # devices whose defaults exist (this container)

    # ------------------------------------------------------------ targets
    def _target(self, caller: Caller, device_id: str | None, site_id: str | None) -> tuple[str, Target]:
        """The owner of what the rule watches, and what it is; 404 for what the caller may not see."""
        if device_id is not None:
            device = _devices().get_owned(caller, device_id)
            return device.owner_id, Target(device.type)
        assert site_id is not None
        site = _sites().get(caller, site_id)
        return str(site["ownerId"]), Target(None)

    def _visible(self, caller: Caller, rule_id: str) -> AlertRuleModel:
        rule = self.store.get(rule_id)
        if rule is None:
            rule = self._lazy_default(caller, rule_id)
        if rule is None or rule.deleted_at is not None:
            raise errors.NotFound("No such alert rule.")
        if rule.owner_id != caller.user_id and caller.role not in SEES_ALL:
            raise errors.NotFound("No such alert rule.")
        return rule

    def _changeable(self, caller: Caller, rule_id: str) -> AlertRuleModel:
        rule = self._visible(caller, rule_id)
        if rule.owner_id != caller.user_id and not caller.is_admin:
            raise errors.NotFound("No such alert rule.")
        return rule

    def _lazy_default(self, caller: Caller, rule_id: str) -> AlertRuleModel | None:
        """A default rule's id names its device: materialise it on first read (if the caller sees the device)."""
        kind, _, device_id = rule_id.partition("-")
        if kind not in ("leak", "offline") or not device_id:
            return None
        try:
            device = _devices().get_owned(caller, device_id)
        except errors.NotFound:
            return None
        materialise_defaults(self.store, device.id, device.type, device.owner_id, self.clock())
        return self.store.get(rule_id)

    def _defaults(self, device_id: str, device_type: str, owner_id: str) -> None:
        if device_id not in self._materialised:
            materialise_defaults(self.store, device_id, device_type, owner_id, self.clock())
            self._materialised.add(device_id)

    # ------------------------------------------------------------ use cases
    def create(self, caller: Caller, fields: dict[str, Any]) -> dict[str, Any]:
        device_id, site_id = fields.get("device_id"), fields.get("site_id")
        if (device_id is None) == (site_id is None):
            raise errors.InvalidInput(
                "A rule watches one device or one site.",
                errors=[errors.FieldError("deviceId", "give deviceId or siteId (exactly one)")],
            )
        owner_id, target = self._target(caller, device_id, site_id)
        rule_fields, problems = validate_rule(fields, target, reported_metrics())
        if problems:
            raise errors.InvalidInput("The rule is not valid for its kind.", errors=problems)
        at = self.clock()
        rule = AlertRuleModel(id=new_id(), owner_id=owner_id, created_at=at, updated_at=at, **rule_fields)
        rule.baseline = "yes" if rule.kind in BASELINE_KINDS else None
        self.store.put_new(rule)
        return rule_view(rule)

    def list(
        self, caller: Caller, device_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor)
        owner = None if caller.role in SEES_ALL else caller.user_id
        if device_id is not None:
            device = _devices().get_owned(caller, device_id)
            if start is None:
                self._defaults(device.id, device.type, device.owner_id)
        elif owner is not None and start is None:
            devices, _ = _devices().list(caller, MATERIALISE_DEVICES, None)
            for d in devices:
                self._defaults(d["id"], d["type"], d["ownerId"])
        if owner is not None and start is not None and start.get("owner_id", {}).get("S", owner) != owner:
            raise errors.BadRequest(
                "The cursor does not belong to this listing.",
                errors=[errors.FieldError("cursor", "not from this listing")],
            )
        rules, last = self.store.page(owner, device_id, limit, start)
        return [rule_view(r) for r in rules], encode_cursor(last)

    def get(self, caller: Caller, rule_id: str) -> dict[str, Any]:
        return rule_view(self._visible(caller, rule_id))

    def update(self, caller: Caller, rule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        rule = self._changeable(caller, rule_id)
        current = {
            "kind": rule.kind,
            "name": rule.name,
            "metric": rule.metric,
            "operator": rule.operator,
            "threshold": float(rule.threshold) if rule.threshold is not None else None,
            "for_s": int(rule.for_s),
            "severity": rule.severity,
            "channels": list(rule.channels),
        }
        target = Target(None)
        if rule.device_id is not None:
            target = Target(_devices().get_owned(caller, rule.device_id).type)
        merged, problems = validate_rule({**current, **changes}, target, reported_metrics())
        if problems:
            raise errors.InvalidInput("The rule is not valid for its kind.", errors=problems)
        for name in ("name", "metric", "operator", "threshold", "for_s", "severity", "channels"):
            setattr(rule, name, merged.get(name))
        rule.updated_at = self.clock()
        self.store.replace(rule)
        return rule_view(rule)

    def delete(self, caller: Caller, rule_id: str) -> None:
        rule = self._changeable(caller, rule_id)
        if rule.default_of == "leak":
            raise errors.Conflict(
                f"'{rule.id}' is the gas sensor's default leak rule: it can be changed, not deleted.",
                errors=[errors.FieldError("id", f"{rule.id} is the default leak rule")],
            )
        if rule.default_of is not None:
            rule.deleted_at = self.clock()  # a tombstone: the default is not materialised again
            self.store.replace(rule)
            return
        self.store.delete(rule)

    def test(self, caller: Caller, rule_id: str) -> dict[str, Any]:
        """Publish a synthetic AlertOpened marked `test` on the rule's channels; nothing is stored."""
        rule = self._visible(caller, rule_id)
        at = self.clock()
        device_id = rule.device_id or ""
        title, message = describe(rule, device_id or "(any on the site)", True if rule.kind == "leak" else None)
        alert = AlertModel(
            id=new_id(),
            rule_id=rule.id,
            device_id=device_id,
            site_id=rule.site_id,
            owner_id=rule.owner_id,
            kind=rule.kind,
            severity=rule.severity,
            status="open",
            title=f"[Test] {title}",
            message=f"This is a test of the rule's notifications. {message}",
            metric=rule.metric,
            count=1,
            last_value=None,
            channels=list(rule.channels),
            opened_at=at,
            updated_at=at,
            acknowledged=False,
            resolved=False,
            reminders=0,
            escalated=False,
        )
        view = alert_view(alert, test=True)
        view["deviceId"] = rule.device_id
        self.publisher.publish([E.alert_event(E.OPENED, view, list(rule.channels), f"test-{alert.id}")])
        return view


rule_service = ServiceFactory(RuleService)
