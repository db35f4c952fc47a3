"""Identity routes: parse -> IdentityService -> shape."""

from __future__ import annotations

from typing import Literal

from pydantic import EmailStr, Field

from gridshare.http.api import ANY_ROLE, ApiBlueprint, ApiModel
from gridshare.http.auth import Caller
from gridshare.services.identity import IdentityService

api = ApiBlueprint("identity")


class RegisterBody(ApiModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=120)
    role: Literal["prosumer", "consumer", "investor"]


class VerifyEmailBody(ApiModel):
    email: EmailStr
    code: str = Field(min_length=4, max_length=12)


class LoginBody(ApiModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


def _service() -> IdentityService:
    return IdentityService.default()


@api.route(
    "/v1/auth/register",
    "POST",
    roles=None,
    body=RegisterBody,
    status=201,
    summary="Register a user; a verification code is emailed",
)
def register(body: RegisterBody) -> dict:
    return {"data": _service().register(body.email, body.password, body.name, body.role)}


@api.route(
    "/v1/auth/verify-email",
    "POST",
    roles=None,
    body=VerifyEmailBody,
    summary="Verify the email address with the emailed code",
)
def verify_email(body: VerifyEmailBody) -> dict:
    return {"data": _service().verify_email(body.email, body.code)}


@api.route("/v1/auth/login", "POST", roles=None, body=LoginBody, summary="Log in with email and password")
def login(body: LoginBody) -> dict:
    return {"data": _service().login(body.email, body.password)}


@api.route("/v1/me", "GET", roles=ANY_ROLE, summary="The caller's profile")
def me(caller: Caller) -> dict:
    return {"data": _service().me(caller)}
