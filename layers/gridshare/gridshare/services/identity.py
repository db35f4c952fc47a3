"""Identity use cases: register, verify email, log in, profile, first admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist

from gridshare import errors
from gridshare.adapters.cognito import CognitoDirectory, Tokens
from gridshare.adapters.notifications import EmailSender
from gridshare.adapters.tables import UserModel
from gridshare.clock import now_ms, to_iso
from gridshare.http.auth import Caller
from gridshare.ids import new_id
from gridshare.settings import get_settings

SELF_SERVICE_ROLES = frozenset({"prosumer", "consumer", "investor"})
MAX_CODE_ATTEMPTS = 5


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str) -> None: ...


def _hash_code(user_id: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


def user_view(user: UserModel) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "status": user.status,
        "createdAt": to_iso(int(user.created_at)),
    }


@dataclass
class IdentityService:
    directory: CognitoDirectory
    mailer: Mailer

    @classmethod
    def default(cls) -> IdentityService:
        return cls(CognitoDirectory(), EmailSender())

    # ------------------------------------------------------------ lookups
    @staticmethod
    def find_by_email(email: str) -> UserModel | None:
        for key in UserModel.by_email.query(email.strip().lower(), limit=1):
            return UserModel.get(key.id)
        return None

    @staticmethod
    def get_user(user_id: str) -> UserModel:
        try:
            return UserModel.get(user_id)
        except DoesNotExist:
            raise errors.NotFound("No such user.") from None

    # ------------------------------------------------------------ flows
    def register(self, email: str, password: str, name: str, role: str) -> dict[str, Any]:
        if role not in SELF_SERVICE_ROLES:
            raise errors.InvalidInput(
                "This role cannot be chosen at registration.",
                errors=[errors.FieldError("role", f"must be one of {sorted(SELF_SERVICE_ROLES)}")],
            )
        email = email.strip().lower()
        if self.find_by_email(email) is not None:
            raise errors.Conflict("An account with this email already exists.")
        user_id = new_id()
        self.directory.sign_up(user_id, email, password, name)
        self.directory.add_to_group(user_id, role)
        user = UserModel(id=user_id, email=email, name=name, role=role, status="pending", created_at=now_ms())
        self._issue_verification_code(user)
        return user_view(user)

    def _issue_verification_code(self, user: UserModel) -> None:
        code = f"{secrets.randbelow(1_000_000):06d}"
        user.verification_code_hash = _hash_code(user.id, code)
        user.verification_expires_at = now_ms() + get_settings().verification_code_ttl_s * 1000
        user.verification_attempts = 0
        user.save()
        self.mailer.send(
            user.email,
            "Verify your Gridshare email",
            f"Hello {user.name},\n\nYour Gridshare verification code is {code}.\n"
            f"It expires in {get_settings().verification_code_ttl_s // 3600} hours.\n",
        )

    def verify_email(self, email: str, code: str) -> dict[str, Any]:
        invalid = errors.InvalidInput(
            "The code is invalid or has expired.", errors=[errors.FieldError("code", "invalid or expired")]
        )
        user = self.find_by_email(email)
        if user is None or user.status != "pending" or not user.verification_code_hash:
            raise invalid
        if (user.verification_attempts or 0) >= MAX_CODE_ATTEMPTS or now_ms() > (user.verification_expires_at or 0):
            raise invalid
        if not hmac.compare_digest(user.verification_code_hash, _hash_code(user.id, code.strip())):
            user.update(actions=[UserModel.verification_attempts.add(1)])
            raise invalid
        self.directory.confirm(user.id)
        user.update(
            actions=[
                UserModel.status.set("active"),
                UserModel.verification_code_hash.remove(),
                UserModel.verification_expires_at.remove(),
            ]
        )
        return user_view(user)

    def login(self, email: str, password: str) -> dict[str, Any]:
        user = self.find_by_email(email)
        if user is None or user.status == "disabled":
            raise errors.AuthenticationFailed("Invalid email or password.")
        tokens: Tokens = self.directory.password_login(user.id, password)
        return {
            "accessToken": tokens.access_token,
            "refreshToken": tokens.refresh_token,
            "idToken": tokens.id_token,
            "expiresIn": tokens.expires_in,
            "tokenType": "Bearer",
            "user": user_view(user),
        }

    def me(self, caller: Caller) -> dict[str, Any]:
        return user_view(self.get_user(caller.user_id))

    def create_admin(self, email: str, password: str, name: str) -> dict[str, Any]:
        """The first admin (and later ones) are made from the CLI, never through the API."""
        email = email.strip().lower()
        if self.find_by_email(email) is not None:
            raise errors.Conflict("An account with this email already exists.")
        user_id = new_id()
        self.directory.create_confirmed_user(user_id, email, password, name)
        self.directory.add_to_group(user_id, "admin")
        user = UserModel(id=user_id, email=email, name=name, role="admin", status="active", created_at=now_ms())
        user.save()
        return user_view(user)
