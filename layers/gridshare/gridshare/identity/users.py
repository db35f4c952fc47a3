"""User administration: list, read, change role, disable/enable; the caller's own profile."""

from __future__ import annotations

import json
from typing import Any

from gridshare.http.pagination import decode_cursor, encode_cursor
from gridshare.identity import sessions
from gridshare.identity.cognito import CognitoAdmin
from gridshare.identity.models import UserModel
from gridshare.identity.security_log import record
from gridshare.identity.service import IdentityService, user_view
from gridshare.kernel import errors
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.roles import Caller, ClientInfo

MAX_PREFERENCES_BYTES = 4096


class UserAdminService:
    def list(self, role: str | None, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        start = decode_cursor(cursor)
        if role:
            result = UserModel.by_role.query(role, limit=limit, last_evaluated_key=start, scan_index_forward=False)
        else:
            result = UserModel.scan(limit=limit, last_evaluated_key=start)
        items = [user_view(u) for u in result]
        return items, encode_cursor(result.last_evaluated_key)

    def get(self, user_id: str) -> dict[str, Any]:
        return user_view(IdentityService.get_user(user_id))

    def update(
        self, caller: Caller, user_id: str, role: str | None, status: str | None, client: ClientInfo | None = None
    ) -> dict[str, Any]:
        user = IdentityService.get_user(user_id)
        if user.id == caller.user_id and (status == "disabled" or (role and role != "admin")):
            raise errors.Conflict("Admins cannot disable or demote themselves; ask another admin.")
        admin = CognitoAdmin()
        if role and role != user.role:
            admin.change_group(user.id, user.role, role)
            old = user.role
            user.update(actions=[UserModel.role.set(role)])
            sessions.revoke_tokens(user.id)  # tokens carry the old group: the user logs in again
            record(
                "role_changed", client=client, user_id=user.id, detail={"from": old, "to": role, "by": caller.user_id}
            )
        if status and status != user.status:
            if user.status == "pending":
                raise errors.Conflict("The user has not verified their email yet.")
            admin.set_enabled(user.id, status == "active")
            user.update(actions=[UserModel.status.set(status)])
            if status == "disabled":
                sessions.revoke_tokens(user.id)
            record(
                "user_disabled" if status == "disabled" else "user_enabled",
                client=client,
                user_id=user.id,
                detail={"by": caller.user_id},
            )
        return user_view(IdentityService.get_user(user_id))

    def reset_2fa(self, caller: Caller, user_id: str, client: ClientInfo | None = None) -> dict[str, Any]:
        """Account recovery for another user. An admin's own 2FA goes off like anyone's, with a current code:
        otherwise a stolen admin token alone could strip the admin's second factor."""
        if user_id == caller.user_id:
            raise errors.PermissionDenied(
                "Admins cannot reset their own 2FA: use DELETE /v1/auth/2fa with a current code to turn it off."
            )
        user = IdentityService.get_user(user_id)
        user.update(
            actions=[
                UserModel.totp_enabled.set(False),
                UserModel.totp_secret.remove(),
                UserModel.totp_pending_secret.remove(),
            ]
        )
        sessions.revoke_tokens(user.id)
        record("2fa_disabled", client=client, user_id=user.id, detail={"by": caller.user_id, "reason": "admin reset"})
        return user_view(IdentityService.get_user(user_id))

    def update_profile(self, caller: Caller, changes: dict[str, Any]) -> dict[str, Any]:
        user = IdentityService.get_user(caller.user_id)
        actions = []
        if "name" in changes and changes["name"] is not None:
            actions.append(UserModel.name.set(changes["name"]))
        if "phone" in changes:
            actions.append(UserModel.phone.set(changes["phone"]) if changes["phone"] else UserModel.phone.remove())
        if "avatar_url" in changes:
            url = changes["avatar_url"]
            actions.append(UserModel.avatar_url.set(str(url)) if url else UserModel.avatar_url.remove())
        if "preferences" in changes:
            prefs = changes["preferences"] or {}
            if len(json.dumps(prefs)) > MAX_PREFERENCES_BYTES:
                raise errors.InvalidInput(
                    "Preferences are too large.",
                    errors=[errors.FieldError("preferences", f"at most {MAX_PREFERENCES_BYTES} bytes")],
                )
            actions.append(UserModel.preferences.set(prefs))
        if actions:
            user.update(actions=actions)
        return user_view(IdentityService.get_user(caller.user_id))


user_admin_service = ServiceFactory(UserAdminService)
