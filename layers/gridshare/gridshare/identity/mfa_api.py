"""Identity routes (2FA): TOTP set-up, enable, disable, and the second step of a login -> MfaService."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridshare.http.api import ANY_ROLE, ApiBlueprint
from gridshare.kernel.roles import Caller, ClientInfo

if TYPE_CHECKING:
    from gridshare.identity.requests import CodeBody, LoginTwoFactorBody

if TYPE_CHECKING:
    from gridshare.identity.mfa import MfaService

api = ApiBlueprint("identity")


def _service() -> MfaService:
    # imported by a 2FA request: the secrets envelope (cryptography's AES-GCM) is not on every cold start
    from gridshare.identity.mfa import mfa_service

    return mfa_service()


@api.route(
    "/v1/auth/2fa/setup",
    "POST",
    roles=ANY_ROLE,
    response="Envelope[TwoFactorSetup]",
    errors=(409, 503),  # 2FA is on already; KMS (the secret is sealed)
    summary="Start TOTP set-up: a new secret and its otpauth URI (2FA is on once /v1/auth/2fa/verify succeeds)",
)
def setup_two_factor(caller: Caller, client: ClientInfo) -> dict:
    return {"data": _service().setup(caller, client)}


@api.route(
    "/v1/auth/2fa/verify",
    "POST",
    roles=ANY_ROLE,
    body="CodeBody",
    response="Envelope[TwoFactorState]",
    errors=(409, 429, 503),  # not set up, or on already; too many wrong codes; KMS
    summary="Enable 2FA with a code of the secret from /v1/auth/2fa/setup",
)
def verify_two_factor(caller: Caller, body: CodeBody, client: ClientInfo) -> dict:
    return {"data": _service().enable(caller, body.code, client)}


@api.route(
    "/v1/auth/2fa",
    "DELETE",
    roles=ANY_ROLE,
    body="CodeBody",
    response="Envelope[TwoFactorState]",
    errors=(409, 429, 503),  # 2FA is off; too many wrong codes; KMS
    summary="Disable 2FA; a valid current code is required",
)
def disable_two_factor(caller: Caller, body: CodeBody, client: ClientInfo) -> dict:
    return {"data": _service().disable(caller, body.code, client)}


@api.route(
    "/v1/auth/login/2fa",
    "POST",
    roles=None,
    body="LoginTwoFactorBody",
    response="Envelope[Tokens]",
    errors=(401, 429, 503),  # a wrong code or session; too many wrong codes; KMS
    summary="Complete a login that answered {challenge: TOTP, session}; a code is accepted once only",
)
def login_two_factor(body: LoginTwoFactorBody, client: ClientInfo) -> dict:
    return {"data": _service().complete_login(body.session, body.code, client)}
