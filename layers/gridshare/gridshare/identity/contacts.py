"""How other contexts reach a user: their email address and the members of a role, from the user pool.

Notifications (docs/notifications.md) send alerts to an owner's address and to every operator. They ask this
module, never identity's tables; it reads Cognito (usernames are our user ids), which needs only
cognito-idp:AdminGetUser and cognito-idp:ListUsersInGroup on the pool (infra_cdk/constructs/notifications.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gridshare.kernel.aws import client
from gridshare.kernel.settings import get_settings

MAX_GROUP_MEMBERS = 1_000  # operators are a handful; a bound keeps one event's fan-out finite


@dataclass(frozen=True)
class Contact:
    user_id: str
    email: str | None


def _email(attributes: list[dict[str, Any]]) -> str | None:
    for attribute in attributes:
        if attribute.get("Name") == "email":
            return str(attribute.get("Value"))
    return None


class ContactDirectory:
    def __init__(self, pool_id: str | None = None) -> None:
        self.pool_id = pool_id or get_settings().user_pool_id
        self._idp = client("cognito-idp")

    def contact(self, user_id: str) -> Contact | None:
        """The user's address, or None if there is no such (enabled) user."""
        try:
            user = self._idp.admin_get_user(UserPoolId=self.pool_id, Username=user_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "UserNotFoundException":
                return None
            raise
        if user.get("Enabled") is False:
            return None
        return Contact(user_id, _email(user.get("UserAttributes", [])))

    def members(self, role: str) -> list[Contact]:
        """The enabled users of a role (its Cognito group)."""
        found: list[Contact] = []
        kwargs: dict[str, Any] = {"UserPoolId": self.pool_id, "GroupName": role, "Limit": 60}
        while len(found) < MAX_GROUP_MEMBERS:
            result = self._idp.list_users_in_group(**kwargs)
            for user in result.get("Users", []):
                if user.get("Enabled", True):
                    found.append(Contact(str(user["Username"]), _email(user.get("Attributes", []))))
            if not result.get("NextToken"):
                break
            kwargs["NextToken"] = result["NextToken"]
        return found[:MAX_GROUP_MEMBERS]
