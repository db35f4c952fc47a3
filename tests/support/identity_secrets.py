"""The identity secrets a test needs in plain text, read as the service reads them (sealed at rest).

TOTP secrets are stored sealed (gridshare.kernel.envelope), so a test that computes real codes for a
user opens the stored value with the same envelope and context as gridshare.identity.mfa.
"""

from __future__ import annotations


def stored_totp_secret(user_id: str, *, pending: bool = False) -> str | None:
    """The user's enabled (or, with ``pending``, set-up) TOTP secret; None when there is none."""
    from gridshare.identity.mfa import totp_context
    from gridshare.identity.models import UserModel
    from gridshare.kernel.envelope import secrets_envelope

    user = UserModel.get(user_id, consistent_read=True)
    stored = user.totp_pending_secret if pending else user.totp_secret
    return secrets_envelope().open(stored, totp_context(user_id)) if stored else None
