"""User administration (admin) and the caller's own profile."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ADMIN, ANY_ROLE, ApiBlueprint
from gridshare.http.pagination import page
from gridshare.identity.users import user_admin_service
from gridshare.kernel.roles import Caller, ClientInfo

if TYPE_CHECKING:
    from gridshare.identity.requests import ListUsersQuery, UpdateMeBody, UpdateUserBody

api = ApiBlueprint("identity")


@api.route(
    "/v1/users",
    "GET",
    roles=ADMIN,
    query="ListUsersQuery",
    response="Page[User]",
    summary="Users, optionally by role (admin)",
)
def list_users(caller: Caller, query: ListUsersQuery) -> dict:
    items, cursor = user_admin_service().list(query.role, query.limit, query.cursor)
    return page(items, query.limit, cursor)


@api.route("/v1/users/{id}", "GET", roles=ADMIN, response="Envelope[User]", summary="One user (admin)")
def get_user(caller: Caller, id: str) -> dict:  # noqa: A002
    return {"data": user_admin_service().get(id)}


@api.route(
    "/v1/users/{id}",
    "PATCH",
    roles=ADMIN,
    body="UpdateUserBody",
    response="Envelope[User]",
    errors=(409,),  # an admin demoting or disabling themselves; a user not verified yet
    summary="Change a user's role, or disable/enable the account (admin)",
)
def update_user(caller: Caller, id: str, body: UpdateUserBody, client: ClientInfo) -> dict:  # noqa: A002
    return {"data": user_admin_service().update(caller, id, body.role, body.status, client)}


@api.route(
    "/v1/me",
    "PATCH",
    roles=ANY_ROLE,
    body="UpdateMeBody",
    response="Envelope[User]",
    summary="Update the caller's profile (never role or email)",
)
def update_me(caller: Caller, body: UpdateMeBody) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return {"data": user_admin_service().update_profile(caller, changes)}


@api.route(
    "/v1/users/{id}/2fa",
    "DELETE",
    roles=ADMIN,
    response="Envelope[User]",
    summary="Clear another user's 2FA (admin; account recovery; the user's tokens are revoked). Your own: "
    "DELETE /v1/auth/2fa with a code",
)
def reset_user_2fa(caller: Caller, id: str, client: ClientInfo) -> dict:  # noqa: A002
    return {"data": user_admin_service().reset_2fa(caller, id, client)}
