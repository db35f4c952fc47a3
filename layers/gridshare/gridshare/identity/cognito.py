"""Cognito user pool adapter: passwords, confirmation and groups (= roles) live in Cognito."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gridshare.identity import passwords
from gridshare.kernel import errors
from gridshare.kernel.aws import client
from gridshare.kernel.settings import get_settings


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    id_token: str
    expires_in: int


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _weak_password(field: str, password: str, exc: ClientError) -> errors.InvalidInput:
    """Cognito refused the password: a 422 naming the policy and what the password lacks."""
    lacks = passwords.violations(password) or [exc.response["Error"].get("Message", "too weak")]
    return errors.InvalidInput(
        f"The password does not meet the password policy: {passwords.describe()}.",
        errors=[errors.FieldError(field, "; ".join(lacks))],
    )


class CognitoDirectory:
    def __init__(self, pool_id: str | None = None, client_id: str | None = None) -> None:
        settings = get_settings()
        self.pool_id = pool_id or settings.user_pool_id
        self.client_id = client_id or settings.user_pool_client_id

    @property
    def _idp(self) -> Any:
        """The Cognito client, created by the first request that calls Cognito (GET /v1/me never does)."""
        return client("cognito-idp")

    def sign_up(self, username: str, email: str, password: str, name: str) -> str:
        try:
            result = self._idp.sign_up(
                ClientId=self.client_id,
                Username=username,
                Password=password,
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": name}],
            )
        except ClientError as exc:
            if _code(exc) == "InvalidPasswordException":
                raise _weak_password("password", password, exc) from None
            if _code(exc) == "UsernameExistsException":
                raise errors.Conflict("An account with this email already exists.") from None
            raise
        return str(result["UserSub"])

    def create_confirmed_user(self, username: str, email: str, password: str, name: str) -> None:
        self._idp.admin_create_user(
            UserPoolId=self.pool_id,
            Username=username,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "name", "Value": name},
            ],
        )
        try:
            self._idp.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password=password, Permanent=True
            )
        except ClientError as exc:
            self._idp.admin_delete_user(UserPoolId=self.pool_id, Username=username)  # no half-made user is left
            if _code(exc) == "InvalidPasswordException":
                raise _weak_password("password", password, exc) from None
            raise

    def add_to_group(self, username: str, group: str) -> None:
        self._idp.admin_add_user_to_group(UserPoolId=self.pool_id, Username=username, GroupName=group)

    def confirm(self, username: str) -> None:
        """Confirm the sign-up after *our* code check (moto accepts any code; so do we not)."""
        try:
            self._idp.admin_confirm_sign_up(UserPoolId=self.pool_id, Username=username)
        except ClientError as exc:
            if _code(exc) != "NotAuthorizedException":  # already confirmed
                raise
        self._idp.admin_update_user_attributes(
            UserPoolId=self.pool_id,
            Username=username,
            UserAttributes=[{"Name": "email_verified", "Value": "true"}],
        )

    def password_login(self, username: str, password: str) -> Tokens:
        try:
            result = self._idp.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as exc:
            if _code(exc) in {"NotAuthorizedException", "UserNotFoundException", "PasswordResetRequiredException"}:
                raise errors.AuthenticationFailed("Invalid email or password.") from None
            if _code(exc) == "UserNotConfirmedException":
                raise errors.PermissionDenied("The email address has not been verified yet.") from None
            raise
        auth = result.get("AuthenticationResult")
        if not auth:  # a challenge this version does not handle (2FA arrives with the identity issue)
            raise errors.AuthenticationFailed("Additional authentication is required.")
        return Tokens(
            access_token=auth["AccessToken"],
            refresh_token=auth.get("RefreshToken"),
            id_token=auth["IdToken"],
            expires_in=int(auth.get("ExpiresIn", 3600)),
        )


class CognitoAdmin:
    """Admin operations on the pool: passwords, groups (roles), sign-out, enable/disable."""

    def __init__(self, pool_id: str | None = None, client_id: str | None = None) -> None:
        settings = get_settings()
        self.pool_id = pool_id or settings.user_pool_id
        self.client_id = client_id or settings.user_pool_client_id

    @property
    def _idp(self) -> Any:
        """The Cognito client, created by the first request that calls Cognito (GET /v1/me never does)."""
        return client("cognito-idp")

    def refresh(self, refresh_token: str) -> Tokens:
        try:
            result = self._idp.initiate_auth(
                ClientId=self.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh_token}
            )
        except ClientError as exc:
            if _code(exc) in {"NotAuthorizedException", "UserNotFoundException"}:
                raise errors.AuthenticationFailed("The refresh token is not valid.") from None
            raise
        auth = result["AuthenticationResult"]
        # Cognito does not rotate refresh tokens: the caller keeps the one it has.
        return Tokens(
            auth["AccessToken"],
            auth.get("RefreshToken") or refresh_token,
            auth["IdToken"],
            int(auth.get("ExpiresIn", 3600)),
        )

    def sign_out_everywhere(self, username: str) -> None:
        self._idp.admin_user_global_sign_out(UserPoolId=self.pool_id, Username=username)

    def set_password(self, username: str, password: str) -> None:
        try:
            self._idp.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password=password, Permanent=True
            )
        except ClientError as exc:
            if _code(exc) == "InvalidPasswordException":
                raise _weak_password("newPassword", password, exc) from None
            raise

    def change_group(self, username: str, old: str, new: str) -> None:
        self._idp.admin_add_user_to_group(UserPoolId=self.pool_id, Username=username, GroupName=new)
        if old != new:
            self._idp.admin_remove_user_from_group(UserPoolId=self.pool_id, Username=username, GroupName=old)

    def set_enabled(self, username: str, enabled: bool) -> None:
        if enabled:
            self._idp.admin_enable_user(UserPoolId=self.pool_id, Username=username)
        else:
            self._idp.admin_disable_user(UserPoolId=self.pool_id, Username=username)
