"""Identity routes: parse -> IdentityService -> shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.http.no_content import NO_CONTENT
from gridshare.identity.service import IdentityService, identity_service
from gridshare.kernel.roles import Caller, ClientInfo

if TYPE_CHECKING:
    from gridshare.identity.requests import (
        EmailBody,
        LoginBody,
        RefreshBody,
        RegisterBody,
        ResetPasswordBody,
        VerifyEmailBody,
    )

api = ApiBlueprint("identity")


def _service() -> IdentityService:
    return identity_service()


@api.route(
    "/v1/auth/register",
    "POST",
    roles=None,
    body="RegisterBody",
    status=201,
    response="Envelope[User]",
    errors=(409,),  # the email is registered already
    summary="Register a user; a verification code is emailed",
)
def register(body: RegisterBody) -> dict:
    return {"data": _service().register(body.email, body.password, body.name, body.role)}


@api.route(
    "/v1/auth/verify-email",
    "POST",
    roles=None,
    body="VerifyEmailBody",
    response="Envelope[User]",
    summary="Verify the email address with the emailed code",
)
def verify_email(body: VerifyEmailBody) -> dict:
    return {"data": _service().verify_email(body.email, body.code)}


@api.route(
    "/v1/auth/login",
    "POST",
    roles=None,
    body="LoginBody",
    response="Envelope[Tokens | TwoFactorChallenge]",
    errors=(401, 403, 429, 503),  # wrong password; email not verified; locked out; KMS (2FA session)
    summary="Log in; with 2FA on, answers {challenge: TOTP, session} (complete at /v1/auth/login/2fa)",
)
def login(body: LoginBody, client: ClientInfo) -> dict:
    return {"data": _service().login(body.email, body.password, client)}


@api.route(
    "/v1/auth/refresh",
    "POST",
    roles=None,
    body="RefreshBody",
    response="Envelope[Tokens]",
    errors=(401,),
    summary="New access token from a refresh token",
)
def refresh(body: RefreshBody, client: ClientInfo) -> dict:
    return {"data": _service().refresh(body.refresh_token, client)}


@api.route(
    "/v1/auth/logout",
    "POST",
    roles=ANY_ROLE,
    status=204,
    response=NO_CONTENT,
    summary="Revoke every access and refresh token of the caller",
)
def logout(caller: Caller, client: ClientInfo) -> None:
    _service().logout(caller, client)


@api.route(
    "/v1/auth/forgot-password",
    "POST",
    roles=None,
    body="EmailBody",
    status=202,
    response="Envelope[Accepted]",
    errors=(429,),  # requests per IP are limited
    summary="Email a reset code (same answer whether the account exists or not)",
)
def forgot_password(body: EmailBody, client: ClientInfo) -> dict:
    return {"data": _service().forgot_password(body.email, client)}


@api.route(
    "/v1/auth/reset-password",
    "POST",
    roles=None,
    body="ResetPasswordBody",
    status=204,
    response=NO_CONTENT,
    errors=(429,),  # wrong codes lock the account's resets
    summary="Set a new password with the emailed code (single use; ends every session)",
)
def reset_password(body: ResetPasswordBody, client: ClientInfo) -> None:
    _service().reset_password(body.email, body.code, body.new_password, client)


@api.route(
    "/v1/auth/resend-verification",
    "POST",
    roles=None,
    body="EmailBody",
    status=202,
    response="Envelope[Accepted]",
    summary="Email a new verification code (same answer whether the account exists or not)",
)
def resend_verification(body: EmailBody) -> dict:
    return {"data": _service().resend_verification(body.email)}


@api.route("/v1/me", "GET", roles=ANY_ROLE, response="Envelope[User]", summary="The caller's profile")
def me(caller: Caller) -> dict:
    return {"data": _service().me(caller)}
