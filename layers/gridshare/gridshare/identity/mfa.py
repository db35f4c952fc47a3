"""TOTP two-factor authentication: set-up, enable, disable, and the second step of a login.

The platform checks RFC 6238 codes itself (gridshare.identity.totp), in every mode, and keeps nothing about
2FA in Cognito. Cognito's own software-token MFA cannot be the check: locally, moto's
`associate_software_token` returns the same fixed secret ("asdfasdfasdf") for everyone and accepts any
code unless MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP is set, so a flow built on it would test nothing and
behave differently on AWS. With our own check there is nothing to keep in step: Cognito still holds the
password and groups, the users table holds the secret, and a login with 2FA on is a password login whose
tokens are held back (only the refresh token, in an `mfa` session) until the code is right.

Rules:
- A code's time step is accepted once only: `totp_last_step` is moved forward with a conditional update
  (absent or lower than the new step), so two concurrent uses of one code cannot both pass.
- Wrong codes count on `totp:<user id>` (locked after the same threshold as passwords) and on the
  client's IP (`login:ip:<ip>`, shared with password failures); an `mfa` session allows
  MAX_SESSION_ATTEMPTS codes and is then deleted.
- An `mfa` session is single use (deleted with a condition before the tokens are issued), expires after
  `GS_MFA_SESSION_TTL_S`, and dies with every other session on logout, reset or disable of the account.
- TOTP secrets (pending and enabled) and the held-back refresh token are stored sealed
  (gridshare.kernel.envelope: KMS data key, AES-GCM), bound to the user (and to the session for the
  token). A stored value that cannot be opened counts as no value: 2FA "not set up"/"not enabled", the
  login session invalid. Fail closed, never a 500.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from gridshare.identity import sessions, throttling, totp
from gridshare.identity.cognito import CognitoAdmin
from gridshare.identity.models import AuthSessionModel, UserModel
from gridshare.identity.security_log import record
from gridshare.identity.service import IdentityService
from gridshare.kernel import errors
from gridshare.kernel.clock import now, now_ms, now_s
from gridshare.kernel.envelope import Envelope, UnreadableSecret, secrets_envelope
from gridshare.kernel.factory import ServiceFactory
from gridshare.kernel.roles import Caller, ClientInfo
from gridshare.kernel.settings import get_settings
from gridshare.kernel.tables import failed_condition

logger = logging.getLogger("gridshare.mfa")

MAX_SESSION_ATTEMPTS = 5
ISSUER = "Gridshare"
INVALID_SESSION = "The 2FA session is invalid or has expired. Log in again."


def totp_context(user_id: str) -> dict[str, str]:
    """Pending and enabled secrets share it: enabling copies the sealed pending value as it is."""
    return {"purpose": "totp", "user": user_id}


def _login_context(session_id: str, user_id: str) -> dict[str, str]:
    return {"purpose": "mfa-login", "user": user_id, "session": session_id}


def _invalid_code(status_401: bool) -> errors.GridshareError:
    field_errors = [errors.FieldError("code", "invalid, expired or already used")]
    if status_401:
        return errors.AuthenticationFailed("The code is not valid.", errors=field_errors)
    return errors.InvalidInput("The code is not valid.", errors=field_errors)


@dataclass
class MfaService:
    clock: Callable[[], float] = field(default=now_s)
    envelope: Envelope = field(default_factory=secrets_envelope)

    # ------------------------------------------------------------ enrolment
    def setup(self, caller: Caller, client: ClientInfo | None = None) -> dict[str, str]:
        """A new pending secret (replacing any earlier pending one); 2FA is on only after `enable`."""
        user = IdentityService.get_user(caller.user_id)
        if user.totp_enabled:
            raise errors.Conflict("Two-factor authentication is already enabled; disable it first.")
        secret = totp.new_secret()
        try:
            user.update(
                actions=[UserModel.totp_pending_secret.set(self.envelope.seal(secret, totp_context(user.id)))],
                condition=UserModel.id.exists()
                & (UserModel.totp_enabled.does_not_exist() | (UserModel.totp_enabled == False)),  # noqa: E712
            )
        except UpdateError as exc:
            if failed_condition(exc):  # enabled meanwhile
                raise errors.Conflict("Two-factor authentication is already enabled; disable it first.") from None
            raise
        record("2fa_setup_started", client=client, user_id=user.id)
        return {"secret": secret, "otpauthUri": totp.otpauth_uri(secret, user.email, ISSUER)}

    def enable(self, caller: Caller, code: str, client: ClientInfo | None = None) -> dict[str, Any]:
        """Prove the app has the pending secret with one of its codes; the secret becomes the one."""
        user = IdentityService.get_user(caller.user_id)
        if user.totp_enabled:
            raise errors.Conflict("Two-factor authentication is already enabled.")
        pending_secret = self._open(user.totp_pending_secret, totp_context(user.id))
        if pending_secret is None:
            raise errors.Conflict("Start the set-up first (POST /v1/auth/2fa/setup).")
        self._check_locks(user.id, client)
        # a new secret: the steps of an earlier secret do not apply
        step = totp.verify(pending_secret, code, self.clock(), last_used_step=None)
        if step is None:
            self._failed(user.id, client, "enable")
            raise _invalid_code(status_401=False)
        try:
            user.update(
                actions=[
                    UserModel.totp_secret.set(user.totp_pending_secret),  # sealed for the same context
                    UserModel.totp_pending_secret.remove(),
                    UserModel.totp_enabled.set(True),
                    UserModel.totp_last_step.set(step),
                ],
                # the secret the code was checked against is still the pending one (no set-up in between)
                condition=UserModel.totp_pending_secret == user.totp_pending_secret,
            )
        except UpdateError as exc:
            if failed_condition(exc):
                raise errors.Conflict("The set-up changed meanwhile; start it again.") from None
            raise
        throttling.reset(f"totp:{user.id}")
        record("2fa_enabled", client=client, user_id=user.id)
        # Tell the owner: someone holding a stolen token could enrol their own authenticator. The email
        # points to the recovery path (a password reset clears 2FA; an admin can too).
        from gridshare.identity.notifications import EmailSender

        EmailSender().send(
            user.email,
            "Two-factor authentication was turned on",
            "Two-factor authentication was just turned on for your Gridshare account.\n"
            "If this was not you, reset your password now: that turns it off and ends every "
            "session.\n",
        )
        return {"twoFactorEnabled": True}

    def disable(self, caller: Caller, code: str, client: ClientInfo | None = None) -> dict[str, Any]:
        """Turn 2FA off; a valid current code is required (a stolen access token alone is not enough)."""
        user = IdentityService.get_user(caller.user_id)
        secret = self._open(user.totp_secret, totp_context(user.id))
        if not user.totp_enabled or secret is None:
            raise errors.Conflict("Two-factor authentication is not enabled.")
        self._check_locks(user.id, client)
        step = self._match(user, secret, code)
        if step is None:
            self._failed(user.id, client, "disable")
            raise _invalid_code(status_401=False)
        try:
            user.update(
                actions=[
                    UserModel.totp_enabled.set(False),
                    UserModel.totp_secret.remove(),
                    UserModel.totp_pending_secret.remove(),
                    UserModel.totp_last_step.remove(),
                ],
                condition=self._step_is_new(step) & (UserModel.totp_enabled == True),  # noqa: E712
            )
        except UpdateError as exc:
            if failed_condition(exc):  # the same code was used meanwhile
                self._failed(user.id, client, "disable")
                raise _invalid_code(status_401=False) from None
            raise
        # logins waiting for a code cannot complete any more
        for key in AuthSessionModel.by_user.query(user.id):
            try:
                session = AuthSessionModel.get(key.id)
            except DoesNotExist:  # ended meanwhile
                continue
            if session.kind == "mfa":
                self._drop(session)
        throttling.reset(f"totp:{user.id}")
        record("2fa_disabled", client=client, user_id=user.id)
        return {"twoFactorEnabled": False}

    # ------------------------------------------------------------ login, second step
    def start_login(self, user: UserModel, refresh_token: str) -> str:
        """Hold a password-checked login until its code arrives; returns the session secret for the client."""
        session = secrets.token_urlsafe(32)
        session_id = sessions.secret_hash(session)
        sealed = self.envelope.seal(refresh_token, _login_context(session_id, user.id)) if refresh_token else None
        AuthSessionModel(
            id=session_id,
            kind="mfa",
            user_id=user.id,
            created_at=now_ms(),
            attempts=0,
            refresh_token=sealed,
            expires_at=now() + timedelta(seconds=get_settings().mfa_session_ttl_s),
        ).save()
        return session

    def complete_login(self, session: str, code: str, client: ClientInfo | None = None) -> dict[str, Any]:
        """Check the code of a pending login; on success, the same response as a password login."""
        client = client or ClientInfo()
        throttling.check(f"login:ip:{client.ip or 'unknown'}")
        pending = self._live_session(session)
        try:
            user = UserModel.get(pending.user_id, consistent_read=True)
        except DoesNotExist:
            self._drop(pending)
            raise errors.AuthenticationFailed(INVALID_SESSION) from None
        secret = self._open(user.totp_secret, totp_context(user.id))
        if user.status == "disabled" or not user.totp_enabled or secret is None:
            self._drop(pending)
            raise errors.AuthenticationFailed(INVALID_SESSION)
        if user.tokens_revoked_at is not None and int(pending.created_at) // 1000 <= int(user.tokens_revoked_at):
            self._drop(pending)
            raise errors.AuthenticationFailed(INVALID_SESSION)
        throttling.check(f"totp:{user.id}")
        step = self._match(user, secret, code)
        if step is None:
            self._failed(user.id, client, "login")
            self._count_session_attempt(pending)
            raise _invalid_code(status_401=True)
        # opened before the session is spent, so a KMS outage (503) leaves the login to retry
        refresh_token = self._open(pending.refresh_token, _login_context(pending.id, user.id))
        if refresh_token is None:
            self._drop(pending)
            raise errors.AuthenticationFailed(INVALID_SESSION)
        # single use of the session: of two concurrent completions, only one deletes it
        try:
            pending.delete(condition=AuthSessionModel.id.exists())
        except DeleteError as exc:
            if failed_condition(exc):
                raise errors.AuthenticationFailed(INVALID_SESSION) from None
            raise
        try:
            user.update(
                actions=[UserModel.totp_last_step.set(step)],
                condition=self._step_is_new(step) & (UserModel.totp_enabled == True),  # noqa: E712
            )
        except UpdateError as exc:
            if failed_condition(exc):  # the same code won a concurrent request
                self._failed(user.id, client, "login", reason="replay")
                raise _invalid_code(status_401=True) from None
            raise
        sessions.wait_past_revocation(user)
        tokens = CognitoAdmin().refresh(refresh_token)
        throttling.reset(f"totp:{user.id}")
        record("login_succeeded", client=client, user_id=user.id, detail={"mfa": "totp"})
        return IdentityService.login_response(user, tokens)

    # ------------------------------------------------------------ helpers
    def _match(self, user: UserModel, secret: str, code: str) -> int | None:
        last = int(user.totp_last_step) if user.totp_last_step is not None else None
        return totp.verify(secret, code, self.clock(), last_used_step=last)

    def _open(self, stored: str | None, context: dict[str, str]) -> str | None:
        """A sealed value's plaintext, or None when absent or unreadable (fail closed: no secret, no token)."""
        if not stored:
            return None
        try:
            return self.envelope.open(stored, context)
        except UnreadableSecret as exc:
            # never expected: tampering, a value from elsewhere, or a key mix-up; say so, refuse quietly
            logger.error("unreadable sealed %s value for user %s: %s", context["purpose"], context["user"], exc)
            return None

    @staticmethod
    def _step_is_new(step: int) -> Any:
        return UserModel.totp_last_step.does_not_exist() | (UserModel.totp_last_step < step)

    @staticmethod
    def _check_locks(user_id: str, client: ClientInfo | None) -> None:
        throttling.check(f"login:ip:{(client or ClientInfo()).ip or 'unknown'}")
        throttling.check(f"totp:{user_id}")

    @staticmethod
    def _failed(user_id: str, client: ClientInfo | None, flow: str, reason: str = "invalid") -> None:
        record("login_2fa_failed", client=client, user_id=user_id, detail={"flow": flow, "reason": reason})
        if throttling.fail(f"totp:{user_id}", throttling.code_limit()):
            record("account_locked", client=client, user_id=user_id, detail={"factor": "totp"})
        if throttling.fail(f"login:ip:{(client or ClientInfo()).ip or 'unknown'}", throttling.ip_limit()):
            record("ip_throttled", client=client, user_id=user_id, detail={"factor": "totp"})

    def _live_session(self, session: str) -> AuthSessionModel:
        try:
            pending = AuthSessionModel.get(sessions.secret_hash(session), consistent_read=True)
        except DoesNotExist:
            raise errors.AuthenticationFailed(INVALID_SESSION) from None
        # DynamoDB deletes expired items lazily (and moto never does): check the expiry ourselves
        if pending.kind != "mfa" or pending.expires_at.timestamp() <= now_s():
            if pending.kind == "mfa":
                self._drop(pending)
            raise errors.AuthenticationFailed(INVALID_SESSION)
        if int(pending.attempts or 0) >= MAX_SESSION_ATTEMPTS:
            self._drop(pending)
            raise errors.AuthenticationFailed(INVALID_SESSION)
        return pending

    @staticmethod
    def _count_session_attempt(pending: AuthSessionModel) -> None:
        try:
            pending.update(actions=[AuthSessionModel.attempts.add(1)], condition=AuthSessionModel.id.exists())
        except UpdateError as exc:
            if failed_condition(exc):  # gone meanwhile
                return
            raise
        if int(pending.attempts) >= MAX_SESSION_ATTEMPTS:
            MfaService._drop(pending)

    @staticmethod
    def _drop(pending: AuthSessionModel) -> None:
        try:
            pending.delete()
        except DeleteError:
            logger.warning("could not delete an mfa session")


mfa_service = ServiceFactory(MfaService)
