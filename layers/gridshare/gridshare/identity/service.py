"""Identity use cases: register, verify email, log in, profile, first admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist

from gridshare.identity import sessions, throttling
from gridshare.identity.cognito import CognitoAdmin, CognitoDirectory, Tokens
from gridshare.identity.contacts import ContactDirectory
from gridshare.identity.models import UserModel
from gridshare.identity.notifications import EmailSender
from gridshare.identity.security_log import email_hash, record
from gridshare.kernel import errors
from gridshare.kernel.clock import now_ms, to_iso
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.ids import new_id
from gridshare.kernel.roles import Caller, ClientInfo
from gridshare.kernel.settings import get_settings

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
        "phone": user.phone,
        "avatarUrl": user.avatar_url,
        "preferences": user.preferences or {},
        "twoFactorEnabled": bool(user.totp_enabled),
        "createdAt": to_iso(int(user.created_at)),
    }


RESET_ACCEPTED = "If an account exists for this email, a reset code has been sent."
RESEND_ACCEPTED = "If an account is waiting for verification, a new code has been sent."


@dataclass
class IdentityService:
    directory: CognitoDirectory
    mailer: Mailer

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

    def login(self, email: str, password: str, client: ClientInfo | None = None) -> dict[str, Any]:
        """Password login. Locked accounts and IPs are refused before the password is checked; unknown
        emails count and lock exactly like known ones, so neither reveals whether an account exists."""
        client = client or ClientInfo()
        account_key, ip_key = f"login:acct:{email_hash(email)}", f"login:ip:{client.ip or 'unknown'}"
        throttling.check(ip_key)
        throttling.check(account_key)
        user = self.find_by_email(email)
        try:
            if user is None or user.status == "disabled":
                # Spend the same Cognito round trip as a real check, so timing does not tell either.
                self.directory.password_login(f"unknown-{email_hash(email)}", password)
                raise errors.AuthenticationFailed("Invalid email or password.")
            sessions.wait_past_revocation(user)
            tokens: Tokens = self.directory.password_login(user.id, password)
        except errors.AuthenticationFailed:
            record("login_failed", client=client, user_id=user.id if user else None, email=email)
            if throttling.fail(account_key, throttling.account_limit()):
                record("account_locked", client=client, user_id=user.id if user else None, email=email)
            if throttling.fail(ip_key, throttling.ip_limit()):
                record("ip_throttled", client=client, email=email)
            raise errors.AuthenticationFailed("Invalid email or password.") from None
        throttling.reset(account_key)
        if user.totp_enabled:
            from gridshare.identity.mfa import mfa_service

            session = mfa_service().start_login(user, tokens.refresh_token or "")
            record("login_2fa_challenged", client=client, user_id=user.id)
            return {"challenge": "TOTP", "session": session}
        record("login_succeeded", client=client, user_id=user.id)
        return self.login_response(user, tokens)

    @staticmethod
    def login_response(user: UserModel, tokens: Tokens) -> dict[str, Any]:
        """Open the refresh session and shape the tokens (also used to complete a 2FA login)."""
        sessions.open_refresh_session(user.id, tokens.refresh_token)
        return {
            "accessToken": tokens.access_token,
            "refreshToken": tokens.refresh_token,
            "idToken": tokens.id_token,
            "expiresIn": tokens.expires_in,
            "tokenType": "Bearer",
            "user": user_view(user),
        }

    def refresh(self, refresh_token: str, client: ClientInfo | None = None) -> dict[str, Any]:
        try:
            user_id = sessions.refresh_session_user(refresh_token)
            tokens = CognitoAdmin().refresh(refresh_token)
        except errors.AuthenticationFailed as exc:
            record("refresh_refused", client=client, user_id=getattr(exc, "user_id", None))
            raise
        user = self.get_user(user_id)
        record("token_refreshed", client=client, user_id=user_id)
        return {
            "accessToken": tokens.access_token,
            "refreshToken": tokens.refresh_token,
            "idToken": tokens.id_token,
            "expiresIn": tokens.expires_in,
            "tokenType": "Bearer",
            "user": user_view(user),
        }

    def logout(self, caller: Caller, client: ClientInfo | None = None) -> None:
        """Revoke every token of the caller: access tokens by `iat`, refresh sessions by deletion."""
        sessions.revoke_tokens(caller.user_id)
        CognitoAdmin().sign_out_everywhere(caller.user_id)
        record("logout", client=client, user_id=caller.user_id)

    def forgot_password(self, email: str, client: ClientInfo | None = None) -> dict[str, Any]:
        """Email a reset code if the account exists; the answer is the same either way."""
        ip_key = f"reset:ip:{(client or ClientInfo()).ip or 'unknown'}"
        throttling.check(ip_key)
        user = self.find_by_email(email)
        record("password_reset_requested", client=client, user_id=user.id if user else None, email=email)
        if user is not None and user.status != "disabled":
            code = f"{secrets.randbelow(1_000_000):06d}"
            user.update(
                actions=[
                    UserModel.reset_code_hash.set(_hash_code(user.id, "reset:" + code)),
                    UserModel.reset_expires_at.set(now_ms() + get_settings().reset_code_ttl_s * 1000),
                    UserModel.reset_attempts.set(0),
                ]
            )
            self.mailer.send(
                user.email,
                "Reset your Gridshare password",
                f"Your Gridshare password reset code is {code}.\n"
                f"It expires in {get_settings().reset_code_ttl_s // 60} minutes. "
                "If you did not ask for it, ignore this message.\n",
            )
        throttling.fail(ip_key, throttling.ip_limit())  # requests per IP are limited too (mail bombing)
        return {"message": RESET_ACCEPTED}

    def reset_password(self, email: str, code: str, new_password: str, client: ClientInfo | None = None) -> None:
        key = f"reset:acct:{email_hash(email)}"
        throttling.check(key)
        invalid = errors.InvalidInput(
            "The code is invalid or has expired.", errors=[errors.FieldError("code", "invalid or expired")]
        )
        user = self.find_by_email(email)
        ok = (
            user is not None
            and user.reset_code_hash is not None
            and now_ms() <= (user.reset_expires_at or 0)
            and hmac.compare_digest(user.reset_code_hash, _hash_code(user.id, "reset:" + code.strip()))
        )
        if not ok:
            record("password_reset_failed", client=client, user_id=user.id if user else None, email=email)
            throttling.fail(key, throttling.code_limit())
            raise invalid
        assert user is not None
        CognitoAdmin().set_password(user.id, new_password)
        # Single use: the code is gone, and every session of the old password ends. 2FA is cleared too: the
        # reset proves control of the email, and an authenticator enrolled by someone holding a stolen
        # token must not outlive the owner's recovery.
        user.update(
            actions=[
                UserModel.reset_code_hash.remove(),
                UserModel.reset_expires_at.remove(),
                UserModel.totp_enabled.set(False),
                UserModel.totp_secret.remove(),
                UserModel.totp_pending_secret.remove(),
            ]
        )
        sessions.revoke_tokens(user.id)
        throttling.reset(key)
        throttling.reset(f"login:acct:{email_hash(email)}")
        record("password_reset_completed", client=client, user_id=user.id)

    def resend_verification(self, email: str) -> dict[str, Any]:
        user = self.find_by_email(email)
        if user is not None and user.status == "pending":
            self._issue_verification_code(user)
        return {"message": RESEND_ACCEPTED}

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


identity_service = ServiceFactory(lambda: IdentityService(CognitoDirectory(), EmailSender()))


def contact_directory() -> ContactDirectory:
    """How other contexts reach users: an address, a role's members (gridshare.identity.contacts; Cognito,
    never identity's tables)."""
    return ContactDirectory()
